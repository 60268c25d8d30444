map { __functor = self: x: x + 1; } [ 1 2 ]
