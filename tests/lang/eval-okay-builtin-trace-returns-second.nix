builtins.trace [ 1 2 ] "second"
