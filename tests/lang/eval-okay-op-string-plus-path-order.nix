builtins.typeOf (./lib-simple.nix + "")
