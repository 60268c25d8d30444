builtins.typeOf (1/0)
