builtins.typeOf (1.0 / 2.0)
