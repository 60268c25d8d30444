[ (builtins.match "(a*)(a*)" "aaa") (builtins.match "(a*)(a+)" "aaa") (builtins.match "(.*)-(.*)" "a-b-c") ]
