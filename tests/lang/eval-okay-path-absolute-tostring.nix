[ (toString /abs/path) (toString /a/b/../c) ]
