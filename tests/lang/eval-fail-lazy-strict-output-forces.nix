[ 1 (throw "inner") ]
