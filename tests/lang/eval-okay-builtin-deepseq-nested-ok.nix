builtins.deepSeq [ [ 1 ] { a.b = 2; } ] true
