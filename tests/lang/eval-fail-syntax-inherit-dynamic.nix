let n = "x"; x = 1; in { inherit ${n}; }
