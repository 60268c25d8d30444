with builtins; [ (elem 2 [ 1 2 3 ]) (elem 4 [ 1 2 3 ]) (elem 1 [ 1.0 ]) (elem [ 1 ] [ [ 1 ] ]) (elem "a" [ ]) ]
