builtins.fromJSON ''"\u00e9\u65e5\ud83d\ude00 \n\t\"\\\/"''
