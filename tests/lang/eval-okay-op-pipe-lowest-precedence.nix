[ ([ 1 2 ] ++ [ 3 ] |> builtins.length) (true -> false |> (b: !b)) (1 + 2 |> toString) ]
