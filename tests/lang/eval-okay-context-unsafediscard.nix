[ (builtins.unsafeDiscardStringContext "abc") (builtins.hasContext (builtins.unsafeDiscardStringContext "abc")) ]
