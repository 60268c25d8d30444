with builtins; [ (substring 1 (-1) "hello") (substring 0 (-5) "abc") ]
