[ (builtins.match "[a-c]+" "abcabc") (builtins.match "[0-9a-f]+" "09af") (builtins.match "[A-Z]" "a") ]
