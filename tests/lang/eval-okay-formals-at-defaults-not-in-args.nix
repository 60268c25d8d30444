(args@{ a ? 1 }: builtins.attrNames args) { }
