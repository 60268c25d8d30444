builtins.toJSON { a = { outPath = "/some/path"; other = 1; }; }
