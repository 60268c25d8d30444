builtins.findFile [ { prefix = "s"; path = ./dir-sample; } ] "t/x"
