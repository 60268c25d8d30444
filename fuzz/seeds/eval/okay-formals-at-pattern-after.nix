({ a, ... }@args: [ a args.b (builtins.attrNames args) ]) { a = 1; b = 2; }
