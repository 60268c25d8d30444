[ (builtins.stringLength { outPath = "abc"; }) (builtins.stringLength { __toString = s: "ab"; }) ]
