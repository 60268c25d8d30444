map (x: x * x) (builtins.attrValues { b = 2; a = 3; })
