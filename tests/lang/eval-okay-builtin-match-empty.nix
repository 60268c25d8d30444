[ (builtins.match "" "") (builtins.match "" "a") (builtins.match ".*" "") (builtins.match "(.*)" "") ]
