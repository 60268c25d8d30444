let s = { x = 1; y = throw "lazy"; }; in { inherit (s) x y; }.x
