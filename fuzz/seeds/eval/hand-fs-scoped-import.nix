[ (builtins.pathExists ./x) (builtins.pathExists /.) (builtins.scopedImport { a = 1; } ./missing.nix) ]
