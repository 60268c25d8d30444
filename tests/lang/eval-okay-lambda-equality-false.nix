let f = x: x; in [ (f == f) ((x: x) == (x: x)) (builtins.head == builtins.head) ]
