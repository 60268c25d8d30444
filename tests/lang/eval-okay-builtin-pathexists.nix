with builtins; [ (pathExists ./dir-sample) (pathExists ./dir-sample/file.txt) (pathExists ./dir-sample/nope) (pathExists ./dir-sample/link) (pathExists "/") ]
