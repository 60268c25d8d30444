builtins.tryEval (1 + "a" * 2)
