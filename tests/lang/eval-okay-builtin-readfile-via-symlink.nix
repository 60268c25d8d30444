builtins.readFile ./dir-sample/link
