''
  "quoted" 'single' '
''
