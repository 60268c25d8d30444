builtins.mapAttrs (n: v: builtins.mapAttrs (m: w: n + m + w) v) { a = { x = "1"; }; b = { y = "2"; }; }
