let args = "outer"; in (args@{ ... }: builtins.typeOf args) { }
