rec { x = y; y = 5; }.x
