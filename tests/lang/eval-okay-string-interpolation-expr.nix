"${if true then "y" else "n"}-${builtins.toString (1 + 2)}"
