[ (toString 1.0) (toString 0.1) (toString 1.5e-7) (toString 1000000.0) (toString 3.14159265) (toString (-2.5)) (toString 1.0e21) ]
