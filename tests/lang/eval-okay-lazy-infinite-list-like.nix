let nats = n: { h = n; t = nats (n + 1); }; in (nats 0).t.t.t.h
