import ./lib-default-dir
