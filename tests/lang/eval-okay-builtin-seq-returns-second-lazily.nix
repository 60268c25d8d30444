builtins.seq 1 [ 1 2 ]
