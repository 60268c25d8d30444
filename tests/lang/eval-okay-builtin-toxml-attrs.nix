builtins.toXML { a = 1; b = { c = "x<y>&\"'"; }; }
