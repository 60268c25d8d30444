builtins.toJSON "a\"b"
