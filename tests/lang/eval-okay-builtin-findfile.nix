let p = builtins.findFile [ { prefix = "nope"; path = ./dir-sample; } { prefix = "s"; path = ./dir-sample; } ] "s/subdir/inner.txt"; in [ (baseNameOf p) (builtins.readFile p) (builtins.isPath p) ]
