builtins.fromTOML ''
  point = { x = 1, y = 2 }
  arr = [ 1, 2, 3 ]
  nested = [ [ 1, 2 ], [ "a" ] ]
  mixed = [ { a = 1 }, { b = 2 } ]
  empty = []
''
