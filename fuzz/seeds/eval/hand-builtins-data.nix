rec {
  j = builtins.fromJSON ''{"a": [1, 2.5, -3e2, true, null, "\u00e9"], "b": {}}'';
  t = builtins.fromTOML ''
    x = 1
    [tab]
    y = "z"
    [[arr]]
    k = 1.5
  '';
  back = builtins.toJSON { inherit j; p = 1.0; s = "q\n"; };
  xml = builtins.toXML { a = [ 1 "x" null ]; f = { a, b ? 2 }: a; };
}
