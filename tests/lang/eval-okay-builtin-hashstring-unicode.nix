builtins.hashString "sha256" "héllo\n"
