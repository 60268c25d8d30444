with builtins; [ (dirOf "/a/b/c") (dirOf "/a/b/c/") (dirOf "c") (dirOf "/") (dirOf "") (dirOf "a/b") (dirOf "/a") ]
