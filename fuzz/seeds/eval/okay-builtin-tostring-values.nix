map toString [ 1 (-5) 1.5 true false null "s" [ 1 "a" [ true ] ] [ ] [ null ] { __toString = self: "ts"; } { outPath = "op"; } ]
