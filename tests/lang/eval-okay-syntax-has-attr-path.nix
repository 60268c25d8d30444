let s = { a = { b = { c = 1; }; }; }; in [ (s ? a) (s ? a.b.c) (s ? a.b.d) (s ? x.y) (s ? "a") ]
