with builtins; [ (ceil 3) (floor (-3)) (ceil 0.000001) (floor 0.999999) (ceil (-0.5)) ]
