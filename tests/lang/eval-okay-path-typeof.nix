[ (builtins.typeOf ./foo) (builtins.typeOf /abs/path) (builtins.isPath ./x) (builtins.isPath "./x") ]
