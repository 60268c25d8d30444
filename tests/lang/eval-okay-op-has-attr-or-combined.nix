let s = { a.b = 1; }; in [ (s ? a.b && s.a.b == 1) (s.a.c or 0) ]
