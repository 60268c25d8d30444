builtins.toJSON [ 1.0e-7 0.5 1.0e15 1.0e16 ]
