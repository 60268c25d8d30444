with builtins; [ (concatStringsSep ", " [ "a" "b" "c" ]) (concatStringsSep "," [ ]) (concatStringsSep "," [ "x" ]) (concatStringsSep "" [ "a" "b" ]) ]
