with builtins; [ (add 1 2) (sub 5 7) (mul 6 7) (div 7 2) (div (-9) 4) (add 1.5 2) (div 9 2.0) ]
