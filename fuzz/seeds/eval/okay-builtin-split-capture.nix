builtins.split "(,)" "a,b"
