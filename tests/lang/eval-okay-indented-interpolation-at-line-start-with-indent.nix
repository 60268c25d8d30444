''
  ${"  i"} foo
    bar
''
