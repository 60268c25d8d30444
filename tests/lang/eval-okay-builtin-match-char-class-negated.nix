[ (builtins.match "[^a]+" "bcd") (builtins.match "[^[:digit:]]+" "abc") (builtins.match "[^[:digit:]]+" "a1") ]
