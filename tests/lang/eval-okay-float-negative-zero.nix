[ (0.0 - 0.0) (-0.0) (builtins.fromJSON "-0.0") ]
