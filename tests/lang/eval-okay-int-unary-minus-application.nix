let f = x: x; in [ (- f 3) (f (-3)) ]
