''
	tab
  sp
''
