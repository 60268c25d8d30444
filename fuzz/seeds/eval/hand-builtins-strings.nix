let s = "hello-1.2.3"; in [
  (builtins.substring 2 3 s) (builtins.stringLength s)
  (builtins.replaceStrings ["l" "" ] ["L" "_"] s)
  (builtins.concatStringsSep "," (builtins.splitVersion "1.2pre3"))
  (builtins.compareVersions "1.2" "1.10")
  (builtins.parseDrvName s)
  (builtins.toString [ 1 2.5 null true "x" ])
  (builtins.baseNameOf "/a/b/c") (builtins.dirOf "/a/b/c")
  (builtins.placeholder "out")
]
