({ a, b ? throw "never" }: a) { a = 2; }
