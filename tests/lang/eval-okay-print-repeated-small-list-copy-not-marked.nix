let x = [ 1 ]; y = x; in [ x y ]
