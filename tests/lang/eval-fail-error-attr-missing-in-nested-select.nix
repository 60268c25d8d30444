let s = { x = { }; }; in s.x.y
