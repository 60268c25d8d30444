with { a = 2; }; rec { a = 1; b = a; }.b
