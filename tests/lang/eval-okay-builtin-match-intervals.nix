[ (builtins.match "a{2,3}" "aaa") (builtins.match "a{2,3}" "aaaa") (builtins.match "a{2}" "aa") (builtins.match "(ab){2,}" "ababab") (builtins.match "a{0,1}b" "b") ]
