with builtins; [ (parseDrvName "nix-0.12pre12876") (parseDrvName "hello-2.12.1") (parseDrvName "foo") (parseDrvName "a-b-c-1.0-beta") (parseDrvName "foo-bar") (parseDrvName "x-1y") ]
