builtins.hasContext "${"a"}${toString 1}"
