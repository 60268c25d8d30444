builtins.attrNames { z = 1; a = 2; B = 3; "10" = 4; "9" = 5; _x = 6; }
