[ (builtins.stringLength "héllo") (builtins.stringLength "😀") ]
