{ a.b.c = throw "deep value"; }
