let n = "foo"; s = { foo = 3; }; in [ s.${n} s."${n}" s.${"f" + "oo"} ]
