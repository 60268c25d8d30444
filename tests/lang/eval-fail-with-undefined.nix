with { a = 1; }; c
