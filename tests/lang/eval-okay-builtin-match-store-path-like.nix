builtins.match "[0-9a-z]{32}-(.*)" "0123456789abcdfghijklmnpqrsvwxyz-hello-2.12"
