builtins.readFileType ./dir-sample/link == (builtins.readDir ./dir-sample).link
