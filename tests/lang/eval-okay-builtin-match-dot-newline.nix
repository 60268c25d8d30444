[ (builtins.match "(.*)" "a\nb") (builtins.match "a.b" "a\nb") ]
