let f = x: { a = x; }; in [ (f 1).a ((f 2).b or "none") ]
