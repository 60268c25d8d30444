builtins.stringLength (builtins.concatStringsSep "" (builtins.genList (i: "abcdefghij") 1000))
