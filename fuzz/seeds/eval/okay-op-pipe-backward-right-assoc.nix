toString <| builtins.add 1 <| 2
