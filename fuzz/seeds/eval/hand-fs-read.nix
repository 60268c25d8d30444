{ f = builtins.readFileType ./.; d = builtins.readDir ./.; r = builtins.readFile ./x; h = builtins.hashFile "sha256" ./x; }
