let s = { __toString = self: "S"; }; in "<${s}>"
