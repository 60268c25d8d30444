1 |> builtins.add 2 |> builtins.mul 3
