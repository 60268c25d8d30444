[ (builtins.match "^a$" "a") (builtins.match "^abc" "abc") (builtins.match "abc$" "abc") ]
