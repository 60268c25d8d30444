builtins.toJSON "quote\" back\\ nl\n tab\t cr\r dollar$ slash/ uni é"
