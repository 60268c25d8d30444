builtins.convertHash { hash = "sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic"; toHashFormat = "base64"; }
