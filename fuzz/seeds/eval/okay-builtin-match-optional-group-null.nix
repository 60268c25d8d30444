[ (builtins.match "(a)(b)?" "a") (builtins.match "x(y)?z" "xz") (builtins.match "x(y)?z" "xyz") ]
