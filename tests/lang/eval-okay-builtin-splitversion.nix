with builtins; [ (splitVersion "1.2.3") (splitVersion "2.3pre1") (splitVersion "1.2-rc3") (splitVersion "") (splitVersion "a.b_c") (splitVersion "10..20") ]
