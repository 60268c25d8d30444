builtins.readFile (toString ./data-hello.txt)
