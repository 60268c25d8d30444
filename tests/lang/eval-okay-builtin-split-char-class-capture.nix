builtins.split "([[:upper:]])" "aBcD"
