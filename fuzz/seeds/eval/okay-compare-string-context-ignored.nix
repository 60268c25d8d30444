"a" == builtins.unsafeDiscardStringContext "a"
