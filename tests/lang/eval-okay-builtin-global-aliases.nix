[ (map toString [ 1 ]) (isNull null) (baseNameOf "/a/b") (removeAttrs { a = 1; b = 2; } [ "a" ]) ]
