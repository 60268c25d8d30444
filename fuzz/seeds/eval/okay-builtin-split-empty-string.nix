[ (builtins.split "," "") (builtins.split "a" "a") (builtins.split "a" "aa") ]
