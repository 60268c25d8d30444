let a = throw "a"; b = 1; in b
