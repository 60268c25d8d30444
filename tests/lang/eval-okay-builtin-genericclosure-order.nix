map (x: x.key) (builtins.genericClosure { startSet = [ { key = 10; } { key = 1; } ]; operator = x: if x.key > 0 && x.key < 12 then [ { key = x.key - 1; } { key = x.key + 3; } ] else [ ]; })
