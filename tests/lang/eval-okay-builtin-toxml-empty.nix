builtins.toXML { l = [ ]; s = { }; e = ""; }
