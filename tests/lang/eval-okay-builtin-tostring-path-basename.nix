baseNameOf (toString ./some/file.txt)
