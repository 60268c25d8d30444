[ (builtins.add 1.5 1) (builtins.sub 1 0.5) (builtins.mul 2 0.25) (builtins.div 1 4.0) ]
