builtins.toJSON { a = { __toString = self: "str"; }; }
