toString { n = 7; __toString = self: "n is ${toString self.n}"; }
