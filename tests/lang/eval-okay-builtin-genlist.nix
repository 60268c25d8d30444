[ (builtins.genList (i: i * i) 5) (builtins.genList (i: i) 0) ]
