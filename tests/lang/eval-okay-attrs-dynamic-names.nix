let x = "foo"; in { ${x} = 1; "${x}bar" = 2; ${"a" + "b"} = 3; }
