# Sort 100,000 pseudo-random integers (linear congruential formula, computed
# in Nix) with builtins.sort and a builtins.lessThan comparator.
let
  n = 100000;
  m = 100003;
  rand = i: (i * 7919 + 13) - ((i * 7919 + 13) / m) * m;
  xs = builtins.genList rand n;
  sorted = builtins.sort builtins.lessThan xs;
in
[
  (builtins.length sorted)
  (builtins.elemAt sorted 0)
  (builtins.elemAt sorted 1)
  (builtins.elemAt sorted (n / 2))
  (builtins.elemAt sorted (n - 1))
]
