builtins.toJSON { x = [ { y = [ [ ] { } ]; } ]; }
