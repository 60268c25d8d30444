map builtins.readFileType [ ./dir-sample/file.txt ./dir-sample ./dir-sample/subdir ./dir-sample/link ]
