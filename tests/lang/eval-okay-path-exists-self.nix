[ (builtins.pathExists ./lib-simple.nix) (builtins.pathExists ./no-such-file) (builtins.pathExists ./dir-sample) ]
