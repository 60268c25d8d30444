let n = "a"; in let ${n} = 1; in a
