[ (builtins.typeOf 1.0) (builtins.isFloat 1.0) (builtins.isFloat 1) ]
