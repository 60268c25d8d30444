builtins.length [ (x: x) builtins.map ]
