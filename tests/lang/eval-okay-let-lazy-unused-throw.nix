let x = throw "unused"; y = abort "unused"; in 42
