rec { a = { b = a; }; }
