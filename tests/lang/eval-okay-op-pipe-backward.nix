builtins.add 1 <| builtins.mul 2 <| 3
