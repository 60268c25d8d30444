[ "quote\"" "back\\slash" "dollar$" "newline\n" "tab\t" "cr\r" "interp\${x}" "brace{" "dollar-curly ${"$"}{" ]
