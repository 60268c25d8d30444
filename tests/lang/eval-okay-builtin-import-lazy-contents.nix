builtins.typeOf (import ./lib-cycle-a.nix)
