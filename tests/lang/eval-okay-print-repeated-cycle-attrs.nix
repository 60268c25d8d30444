let x = { a = x; }; in x
