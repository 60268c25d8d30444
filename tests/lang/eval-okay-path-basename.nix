[ (baseNameOf ./foo/bar.nix) (baseNameOf /a/b/c) (baseNameOf ./dir-sample/.) ]
