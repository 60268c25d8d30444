toString { a = "b"; }
