builtins.foldl' (a: b: b) 0 [ (throw "strict accumulator") 1 ]
