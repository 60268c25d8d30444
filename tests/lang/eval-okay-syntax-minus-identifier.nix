let a = 5; a-1 = 10; in [ a-1 (a - 1) ]
