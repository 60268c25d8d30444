let m = "l1\n    l2"; in ''
  ${m}
  end
''
