rec { fac = n: if n == 0 then 1 else n * fac (n - 1); r = fac 10; }.r
