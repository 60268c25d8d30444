[ (import ./lib-function.nix { a = 3; }) (import ./lib-function.nix { a = 3; b = 5; }) ]
