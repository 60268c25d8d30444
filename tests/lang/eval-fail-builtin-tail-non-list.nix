builtins.tail 1
