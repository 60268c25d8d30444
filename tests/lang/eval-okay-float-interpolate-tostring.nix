"x${toString 2.5}y"
