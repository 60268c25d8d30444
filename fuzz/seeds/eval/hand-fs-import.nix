[ "${./x}" (import ./x) <nixpkgs> (builtins.abort "a") ]
