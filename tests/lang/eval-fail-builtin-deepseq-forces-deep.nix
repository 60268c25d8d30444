builtins.deepSeq { a = [ 1 (throw "deep throw") ]; } "never"
