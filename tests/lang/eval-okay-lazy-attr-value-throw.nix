builtins.attrNames { a = throw "x"; b = abort "y"; }
