builtins.convertHash { hash = "9m1skbnr5i43n3yypvda5s65vhfwdx5a"; hashAlgo = "sha1"; toHashFormat = "sri"; }
