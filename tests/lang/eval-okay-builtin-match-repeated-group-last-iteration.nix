[ (builtins.match "(a|b)*" "abab") (builtins.match "(a+)+" "aaa") (builtins.match "([0-9])+" "123") ]
