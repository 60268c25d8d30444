1 - true
