(args@{ a ? 1, b ? args }: builtins.typeOf b) { }
