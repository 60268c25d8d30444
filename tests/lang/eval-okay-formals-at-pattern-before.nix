(args@{ a, b ? 5 }: [ a b (args ? b) ]) { a = 1; }
