let mk = a: { get = b: a + b; }; in [ ((mk 1).get 2) ((mk 10).get 20) ]
