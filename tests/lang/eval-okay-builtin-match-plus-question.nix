[ (builtins.match "a+b?" "aaa") (builtins.match "a+b?" "aab") (builtins.match "a?" "") (builtins.match "(a?)(b+)" "bb") ]
