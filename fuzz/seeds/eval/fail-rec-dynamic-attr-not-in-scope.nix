let n = "a"; in rec { ${n} = 1; b = a; }.b
