with builtins; [ (lessThan 1 2) (lessThan 2 2) (lessThan "a" "b") (lessThan 1 1.5) ([ (lessThan [ 1 ] [ 2 ]) ]) ]
