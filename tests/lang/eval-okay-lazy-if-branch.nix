if false then throw "no" else "yes"
