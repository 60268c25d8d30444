builtins.scopedImport { } ./lib-simple.nix
