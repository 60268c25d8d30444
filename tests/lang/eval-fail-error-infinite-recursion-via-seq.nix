builtins.seq (let y = y; in y) 1
