# 1,000 merges with `//` of attribute sets of about 10,000 attributes each.
# Two 10,000-attribute sets (built with listToAttrs) overlap on 9,000 names;
# every step merges one of them into the accumulator (11,000 names) and then
# applies a small one-attribute update, like repeated `config // { ... }`.
let
  mkSet = offset:
    builtins.listToAttrs (builtins.genList (i: {
      name = "k${toString (i + offset)}";
      value = i + offset;
    }) 10000);
  a = mkSet 0;
  b = mkSet 1000;
  sets = [ a b ];
  step = acc: i:
    (acc // builtins.elemAt sets (i - (i / 2) * 2)) // { "k${toString i}" = i; };
  result = builtins.foldl' step { } (builtins.genList (i: i) 1000);
in
[
  (builtins.length (builtins.attrNames result))
  result.k5
  result.k999
  result.k10999
]
