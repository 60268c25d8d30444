[ http://x.org/a https://example.com/path?q=1&r=2 mailto:foo@bar.com ]
