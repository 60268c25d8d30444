with (if true then { v = "t"; } else { v = "f"; }); v
