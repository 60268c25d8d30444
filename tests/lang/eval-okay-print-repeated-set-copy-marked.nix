let s = { a = 1; }; t = s; in [ s t ]
