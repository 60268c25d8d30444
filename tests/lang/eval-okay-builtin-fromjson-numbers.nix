builtins.fromJSON "[1, -1, 1.0, 1e2, 1E-2, 0, -0, 1.5e3, 12345678901]"
