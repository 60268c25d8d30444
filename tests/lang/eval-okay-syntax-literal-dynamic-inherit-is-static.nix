let x = 1; in { inherit ${"x"}; }
