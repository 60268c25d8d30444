builtins.typeOf ("prefix-" + ./lib-simple.nix)
