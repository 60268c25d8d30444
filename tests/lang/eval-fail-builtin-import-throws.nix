import ./lib-throws.nix
