builtins.scopedImport { x = 1; } ./lib-scoped.nix
