builtins.replaceStrings [ "l" ] [ "" ] "hello world"
