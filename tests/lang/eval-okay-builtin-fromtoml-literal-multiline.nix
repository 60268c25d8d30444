builtins.fromTOML "b = '''\nraw \\n\n  x'''"
