let s = { a = 1; b = { c = 2; }; "d e" = 3; }; in {
  m = builtins.mapAttrs (n: v: "${n}") s;
  g = builtins.getAttr "a" s; v = builtins.attrValues s; n = builtins.attrNames s;
  r = builtins.removeAttrs s [ "a" "zz" ];
  z = builtins.zipAttrsWith (n: vs: builtins.length vs) [ s s { q = 1; } ];
  cl = builtins.concatLists [ [ 1 ] [ ] [ 2 3 ] ];
  sub = builtins.sub 10 3; ab = builtins.tryEval (throw "x");
  t = builtins.trace "msg" (builtins.warn "w" 1);
  hc = builtins.hasContext "${toString s.b.c}";
  ca = builtins.catAttrs "a" [ s { } { a = 4; } ];
  la = builtins.listToAttrs [ { name = "x"; value = 1; } { name = "x"; value = 2; } ];
  ia = builtins.intersectAttrs { a = 0; b = 0; } s;
  fa = builtins.functionArgs ({ a, b ? 1 }: a);
  pos = builtins.unsafeGetAttrPos "b" s;
  has = [ (s ? a) (s ? b.c) (s ? "d e") (s ? x.y) ];
}
