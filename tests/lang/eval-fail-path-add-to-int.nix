1 + ./foo
