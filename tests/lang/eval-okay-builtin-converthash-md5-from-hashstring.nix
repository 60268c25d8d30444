builtins.convertHash { hash = builtins.hashString "md5" "hello"; hashAlgo = "md5"; toHashFormat = "sri"; }
