builtins.functionArgs ({ a ? throw "no" }: a)
