let f = { n = 0; __functor = self: x: self // { n = self.n + x; }; }; in ((f 1) 2).n
