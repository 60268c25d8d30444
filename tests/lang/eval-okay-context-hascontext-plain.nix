[ (builtins.hasContext "x") (builtins.hasContext "") ]
