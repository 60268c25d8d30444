builtins.split "a+" "baaac"
