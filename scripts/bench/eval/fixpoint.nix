# nixpkgs-style fixpoint: a 5,000-member attribute set whose members refer to
# each other through `self`, extended by overlays composed with `//` the way
# lib.fixedPoints.extends does it. Prints a deep member, whose evaluation
# walks a 5,000-long chain of self references.
let
  fix = f: let x = f x; in x;
  extends = overlay: f: self:
    let super = f self; in super // overlay self super;

  n = 5000;
  name = i: "m${toString i}";

  base = self: builtins.listToAttrs (builtins.genList (i: {
    name = name i;
    value = if i == 0 then 0 else self.${name (i - 1)} + 1;
  }) n);

  # Overrides a single member, using the previous layer's value.
  bump = self: super: { m100 = super.m100 + 1000; };

  # Overrides every tenth member, mixing `self` and `super`.
  tens = self: super: builtins.listToAttrs (builtins.genList (j:
    let i = j * 10 + 5; in {
      name = name i;
      value = super.${name i} + self.m0;
    }) (n / 10));

  # Changes the root of the chain, which every member depends on.
  root = self: super: { m0 = 7; };

  # Adds a few members computed from others.
  extra = self: super: {
    total = self.m4999 + self.m2500;
    label = "m4999=${toString self.m4999}";
  };

  composed = builtins.foldl' (f: o: extends o f) base [ bump tens root extra ];
  pkgs = fix composed;
in
pkgs.label
