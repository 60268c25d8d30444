with builtins; map (p: compareVersions (elemAt p 0) (elemAt p 1)) [ [ "1.0.0" "1.0" ] [ "1.0a" "1.0b" ] [ "1.0pre2" "1.0pre10" ] [ "2.0rc1" "2.0" ] [ "0.9" "1.0pre" ] ]
