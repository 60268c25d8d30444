builtins.typeOf (builtins.tryEval 1)
