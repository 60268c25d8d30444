builtins.concatStringsSep "\n" (map (x: "line ${toString x}") [ 1 2 3 ])
