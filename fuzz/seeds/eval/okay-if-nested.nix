if 1 < 2 then if false then "a" else "b" else "c"
