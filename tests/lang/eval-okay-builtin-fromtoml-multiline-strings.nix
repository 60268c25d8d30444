builtins.fromTOML ''
  a = """
  line1
  line2"""
''
