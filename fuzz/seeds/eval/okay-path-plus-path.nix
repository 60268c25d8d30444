let p = /a + /b; in [ (builtins.typeOf p) (toString p) ]
