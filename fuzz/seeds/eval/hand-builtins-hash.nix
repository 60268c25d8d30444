[
  (builtins.hashString "sha256" "abc")
  (builtins.hashString "md5" "")
  (builtins.hashString "blake3" "x")
  (builtins.convertHash { hash = "sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="; toHashFormat = "nix32"; })
  (builtins.convertHash { hash = "900150983cd24fb0d6963f7d28e17f72"; hashAlgo = "md5"; toHashFormat = "sri"; })
]
