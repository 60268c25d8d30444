builtins.findFile [ { prefix = "p"; path = "/x"; } { prefix = ""; path = "/y"; } ] "p/q"
