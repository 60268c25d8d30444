let f = x: x; s = { inherit f; }; l = [ f ]; in [ (f == f) (s == s) (l == l) ([ f ] == [ f ]) (builtins.elem f [ f ]) ([ (x: x) ] == [ (x: x) ]) (s.f == s.f) ]
