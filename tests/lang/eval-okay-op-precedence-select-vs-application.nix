let f = x: x; s = { a = f; }; in s.a 5
