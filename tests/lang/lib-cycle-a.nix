{ b = import ./lib-cycle-b.nix; v = "a"; }
