[ (builtins.hashString "sha256" "hello") (builtins.hashString "sha256" "") ]
