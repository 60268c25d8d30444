builtins.attrNames (builtins.fromJSON ''{"a\"b": 1, "\u0041": 2, "": 3}'')
