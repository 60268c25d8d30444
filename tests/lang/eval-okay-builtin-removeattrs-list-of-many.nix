builtins.attrNames (builtins.removeAttrs (builtins.listToAttrs (builtins.genList (i: { name = "k${toString i}"; value = i; }) 12)) [ "k1" "k10" "k5" ])
