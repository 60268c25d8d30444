# Naive doubly-recursive Fibonacci: function calls, integer arithmetic,
# comparisons and thunk creation. fib 30 = 832040 (about 1.3 million calls).
let
  fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2);
in
fib 30
