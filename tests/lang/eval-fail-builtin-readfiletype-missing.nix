builtins.readFileType ./no-such-file-for-readfiletype
