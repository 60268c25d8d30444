builtins.toJSON { b = 1; a = 2; "Z" = 3; }
