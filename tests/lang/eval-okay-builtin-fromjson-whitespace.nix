builtins.fromJSON "  \n { \"a\" :\t[ 1 , 2 ] }  "
