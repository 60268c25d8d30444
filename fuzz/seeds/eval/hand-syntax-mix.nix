let
  a.b.c = 1; a.b.d = 2;
  ${"dyn"} = 3;
  inherit (builtins) map;
  op = x: y: x // y;
in with a; {
  v = b.c + b.d * -2 / 1 - 3;
  s = ''
    ${toString b.c} ''${x} '''
      $${y}
  '';
  p = ./x/y + "/z";
  q = (op { x = 1; } { y = 2; }).x or 0;
  h = a ? b.c && !(a ? z) || false -> true;
  l = [ 1 ] ++ [ (2) ] ++ map (x: x) [ 3 ];
  cmp = [ (1 < 2) (1.5 >= 1) ("a" <= "b") ([1 2] < [1 3]) ];
  u = "\u{1F600}\t\"\$";
  uri = http://example.org/foo;
  pipe = 3 |> (x: x + 1);
}
