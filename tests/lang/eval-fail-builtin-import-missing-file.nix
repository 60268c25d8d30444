import ./no-such-file-here.nix
