builtins.fromJSON ''{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}}}''
