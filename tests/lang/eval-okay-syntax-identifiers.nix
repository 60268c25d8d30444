let a' = 1; _b = 2; c-d = 3; e_f'-g = 4; in [ a' _b c-d e_f'-g ]
