let
  drv = { outPath = "/imgx/store/abc-x"; };
  obj = { __toString = self: "obj:${toString self.n}"; n = 3; };
  f = { __functor = self: x: x + self.k; k = 10; };
in [
  "${drv}" (toString drv) (toString obj) "${obj}"
  (toString [ 1 [ 2 "a" ] null true ])
  (f 1) (builtins.toJSON { inherit drv obj; })
  (builtins.concatStringsSep "-" [ "a" drv ])
]
