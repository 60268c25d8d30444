builtins.elemAt (map (x: if x == 2 then throw "no" else x) [ 1 2 3 ]) 2
