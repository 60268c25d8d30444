let l = [ 1 ]; in l 2
