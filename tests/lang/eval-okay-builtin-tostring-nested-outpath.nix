toString { outPath = { outPath = "inner"; }; }
