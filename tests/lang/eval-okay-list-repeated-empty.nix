let e = [ ]; f = { }; in [ e e f f ]
