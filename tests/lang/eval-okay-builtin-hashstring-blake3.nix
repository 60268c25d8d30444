[ (builtins.hashString "blake3" "hello") (builtins.hashString "blake3" "") (builtins.hashString "blake3" "abc") ]
