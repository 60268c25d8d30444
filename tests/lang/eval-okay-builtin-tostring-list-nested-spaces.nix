toString [ [ "a" "b" ] [ ] "c" [ null ] "d" ]
