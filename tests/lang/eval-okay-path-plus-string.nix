let p = ./dir + "/file.txt"; in [ (builtins.typeOf p) (baseNameOf p) ]
