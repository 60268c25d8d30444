[ (builtins.isAttrs builtins) (builtins ? map) (builtins ? nonexistentBuiltin) (builtins.builtins ? map) ]
