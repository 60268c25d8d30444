builtins.readFile ./no-such-data-file.txt
