[ (builtins.match "a" "a") (builtins.match "a" "ab") (builtins.match "abc" "abc") ]
