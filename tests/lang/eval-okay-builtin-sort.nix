[ (builtins.sort builtins.lessThan [ 3 1 2 ]) (builtins.sort (a: b: a > b) [ 1 3 2 ]) (builtins.sort builtins.lessThan [ "b" "a" "c" ]) (builtins.sort builtins.lessThan [ ]) ]
