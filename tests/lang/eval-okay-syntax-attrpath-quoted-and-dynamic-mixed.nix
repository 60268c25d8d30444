let k = "dyn"; in { a."b c".${k} = 1; }
