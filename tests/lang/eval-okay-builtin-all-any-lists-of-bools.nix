[ (builtins.all (x: x) [ true true ]) (builtins.any (x: x) [ false false ]) ]
