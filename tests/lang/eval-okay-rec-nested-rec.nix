rec { a = 1; b = rec { c = a + 1; d = c + 1; }; }
