let s = { outPath = "/some/out"; }; in "<${s}>"
