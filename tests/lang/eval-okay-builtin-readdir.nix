builtins.readDir ./dir-sample
