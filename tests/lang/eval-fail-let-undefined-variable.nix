let a = 1; in foo
