builtins.addErrorContext "extra context" (throw "inner failure")
