builtins.throw "my error"
