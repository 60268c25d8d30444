[ 1 2 3 4 ] |> map (x: x * 10) |> builtins.filter (x: x > 15) |> builtins.length
