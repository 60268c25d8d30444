builtins.warn "w" { a = [ 1 (builtins.warn "inner" 2) ]; }
