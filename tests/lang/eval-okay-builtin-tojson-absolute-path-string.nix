builtins.toJSON "/abs"
