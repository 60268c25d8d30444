let f = { a, b ? a + 1, ... }@args: a + b; in {
  fa = builtins.functionArgs f;
  r1 = builtins.tryEval (throw "no");
  r2 = builtins.tryEval (assert false; 1);
  r3 = builtins.tryEval (builtins.deepSeq [ 1 2 ] 3);
  c = builtins.addErrorContext "ctx" (f { a = 1; });
  pos = builtins.unsafeGetAttrPos "x" { x = 1; };
  cur = __curPos;
  ty = map builtins.typeOf [ 1 1.0 "s" /p null true [] {} f builtins.add ];
  ctx = builtins.getContext (builtins.appendContext "x" { "/imgx/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv" = { path = true; outputs = [ "out" ]; }; });
  hc = builtins.hasContext "a${"b"}";
}
