builtins.partition (x: builtins.bitAnd x 1 == 1) [ 5 2 7 4 1 8 ]
