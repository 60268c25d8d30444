builtins.hashFile "sha512" ./data-hello.txt == builtins.hashString "sha512" (builtins.readFile ./data-hello.txt)
