builtins.fromTOML ''
  title = "TOML"
  int = 42
  neg = -17
  float = 3.5
  bool = true
  off = false
  str = 'literal \n'
  esc = "a\tb\u00e9"
''
