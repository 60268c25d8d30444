builtins.typeOf http://x.org/a
