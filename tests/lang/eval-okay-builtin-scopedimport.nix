builtins.scopedImport { x = 1; y = 10; } ./lib-scoped.nix
