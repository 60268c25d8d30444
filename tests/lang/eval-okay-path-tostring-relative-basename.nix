baseNameOf (toString ./lib-simple.nix)
