{ a = 1; b = 2; } == builtins.listToAttrs [ { name = "b"; value = 2; } { name = "a"; value = 1; } ]
