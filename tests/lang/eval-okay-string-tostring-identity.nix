toString "abc"
