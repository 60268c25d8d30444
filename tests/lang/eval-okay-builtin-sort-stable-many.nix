map (x: x.i) (builtins.sort (a: b: a.k < b.k) (builtins.genList (i: { i = i; k = builtins.bitAnd i 3; }) 40))
