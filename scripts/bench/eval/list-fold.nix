# Build a 1,000,000-element list with genList and reduce it with foldl'.
# Exercises list allocation, lazy element thunks and the strict left fold.
let
  n = 1000000;
  xs = builtins.genList (i: i * 3 + 1) n;
in
builtins.foldl' (acc: x: acc + x - (x / 2)) 0 xs
