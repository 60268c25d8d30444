[ builtins.map builtins.add (builtins.add 1) ]
