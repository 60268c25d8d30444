[ (x: x) ({ a }: a) builtins.add (builtins.add 1) ]
