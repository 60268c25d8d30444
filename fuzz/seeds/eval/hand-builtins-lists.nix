let xs = builtins.genList (i: i * i - 7) 12; in {
  sorted = builtins.sort (a: b: a < b) xs;
  parts = builtins.partition (x: x > 0) xs;
  groups = builtins.groupBy (x: if x > 10 then "big" else toString x) xs;
  closure = builtins.genericClosure {
    startSet = [ { key = 1; } ];
    operator = item: if item.key < 5 then [ { key = item.key + 1; } ] else [];
  };
  folded = builtins.foldl' (a: b: a + b) 0 xs;
  zipped = builtins.zipAttrsWith (n: vs: vs) [ { a = 1; } { a = 2; b = 3; } ];
  bits = [ (builtins.bitAnd 12 10) (builtins.bitOr 12 10) (builtins.bitXor 12 10) ];
  all = builtins.all (x: x != 0) xs; any = builtins.any (x: x == 2) xs;
  cm = builtins.concatMap (x: [ x x ]) [ 1 2 ];
  el = builtins.elemAt xs 3; h = builtins.head xs; t = builtins.length (builtins.tail xs);
}
