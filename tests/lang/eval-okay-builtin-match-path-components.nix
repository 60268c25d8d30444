builtins.match "(.*)/([^/]*)" "/usr/local/bin/nix"
