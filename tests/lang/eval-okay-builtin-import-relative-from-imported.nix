(import ./lib-uses-relative.nix).name
