let p = __curPos; in [ p.line p.column (builtins.typeOf p.file) ]
