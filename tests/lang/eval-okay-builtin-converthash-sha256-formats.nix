map (f: builtins.convertHash { hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; hashAlgo = "sha256"; toHashFormat = f; }) [ "base16" "nix32" "base32" "base64" "sri" ]
