import ./lib-simple.nix
