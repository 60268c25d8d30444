# nixpkgs-style fixpoint: a 5,000-member attribute set whose members refer to
# each other through `self`, extended by overlays composed with `//` the way
# lib.fixedPoints.extends does it. Forcing the deep member m4999 walks the
# 5,000-long chain of self references through every overlay layer.
# The package set is instantiated for 10 "configurations" (different roots),
# as evaluating nixpkgs for several systems would, so that the work is well
# above process start-up time. Prints one deep member of the last one.
let
  fix = f: let x = f x; in x;
  extends = overlay: f: self:
    let super = f self; in super // overlay self super;

  n = 5000;
  name = i: "m${toString i}";
  indices = builtins.genList (i: i) n;

  base = self: builtins.listToAttrs (map (i: {
    name = name i;
    value = if i == 0 then 0 else self.${name (i - 1)} + 1;
  }) indices);

  # Overrides a single member, using the previous layer's value.
  bump = self: super: { m100 = super.m100 + 1000; };

  # Overrides every tenth member, mixing `self` and `super`.
  tens = self: super: builtins.listToAttrs (builtins.genList (j:
    let i = j * 10 + 5; in {
      name = name i;
      value = super.${name i} + self.m0;
    }) (n / 10));

  # Overrides every member (like an overlay that rebuilds the whole set).
  all = self: super: builtins.listToAttrs (map (i: {
    name = name i;
    value = super.${name i} + 2;
  }) indices);

  # Changes the root of the chain, which every member depends on.
  root = r: self: super: { m0 = r; };

  # Adds members computed from others.
  extra = self: super: {
    total = self.m4999 + self.m2500;
    label = "m4999=${toString self.m4999}";
  };

  pkgsFor = r: fix (builtins.foldl' (f: o: extends o f) base
    [ bump tens all (root r) extra ]);

  configs = builtins.genList (r: pkgsFor (r + 1)) 10;
in
builtins.concatStringsSep " " [
  (builtins.elemAt configs 9).label
  (toString (builtins.foldl' (acc: p: acc + p.total) 0 configs))
]
