builtins.attrNames (builtins.readDir ./dir-sample/subdir)
