builtins.hasContext "${./lib-simple.nix}"
