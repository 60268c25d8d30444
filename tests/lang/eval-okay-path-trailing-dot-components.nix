baseNameOf ./a/b/./c
