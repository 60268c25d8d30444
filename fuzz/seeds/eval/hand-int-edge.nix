[ (9223372036854775807 + 0) (-9223372036854775807 - 1) (5 / -2) (-5 / 2)
  (builtins.div 7 2) (builtins.mul 3 4) (builtins.sub 1 2) (builtins.ceil 1.5) (builtins.floor (-1.5))
  (1.0 / 3) (0.1 + 0.2) 1.0e300 (-0.0) 1.5e-10 ]
