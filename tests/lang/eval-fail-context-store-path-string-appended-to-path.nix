./. + "${./lib-simple.nix}"
