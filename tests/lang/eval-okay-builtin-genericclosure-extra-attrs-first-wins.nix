builtins.genericClosure { startSet = [ { key = "a"; v = 1; } { key = "a"; v = 2; } ]; operator = item: [ { key = "b"; from = item.v; } ]; }
