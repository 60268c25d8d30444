[ (toString (dirOf /a/b/c)) (toString (dirOf /a)) (builtins.typeOf (dirOf /a/b)) (dirOf "a/b/c") (dirOf "abc") (dirOf "/x") ]
