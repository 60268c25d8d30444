''
  a
    b
  c
''
