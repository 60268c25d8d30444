true -> null
