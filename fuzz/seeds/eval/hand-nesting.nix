let
  deep = builtins.foldl' (acc: _: [ acc ]) [ ] (builtins.genList (x: x) 20);
  deepSet = builtins.foldl' (acc: i: { a = acc; inherit i; }) { } (builtins.genList (x: x) 20);
  self = { y = self; };
in {
  eq = deep == deep; lt = deep < [ [ ] ];
  json = builtins.toJSON deepSet;
  str = toString deep;
  setsEq = deepSet == deepSet;
  xml = builtins.stringLength (builtins.toXML deep);
  cyc = self.y.y.y ? y;
  seq = builtins.deepSeq deepSet true;
}
