let s = { "if" = 1; "then" = 2; "let" = 3; "rec" = 4; "with" = 5; "inherit" = 6; }; in [ s."if" s."let" s ]
