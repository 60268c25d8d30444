(import ./lib-simple.nix) == (import ./lib-simple.nix)
