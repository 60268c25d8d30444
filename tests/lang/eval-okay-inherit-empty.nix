let s = { }; in { inherit (s); inherit; x = 1; }
