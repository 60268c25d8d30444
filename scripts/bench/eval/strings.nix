# String building over 100,000 strings: interpolation + toString to make them,
# replaceStrings on each, concatStringsSep to join, and a final
# replaceStrings over the ~1.5 MB joined string. Prints the resulting length.
let
  n = 100000;
  parts = builtins.genList (i: "item-${toString i}-${toString (i * 7)}") n;
  renamed = map (s: builtins.replaceStrings [ "item-" "-" ] [ "it" "_" ] s) parts;
  joined = builtins.concatStringsSep "," renamed;
  final = builtins.replaceStrings [ "," "it" ] [ ";\n" "entry:" ] joined;
in
builtins.stringLength final
