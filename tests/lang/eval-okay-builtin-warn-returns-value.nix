builtins.warn "this is a warning" 42
