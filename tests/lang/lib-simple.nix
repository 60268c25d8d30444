{ value = 42; name = "simple"; }
