let s = { x = 1; y = 2; }; in builtins.listToAttrs (map (n: { name = n; value = s.${n} * 10; }) (builtins.attrNames s))
