(map: map + 1) 1
