/** doc-style comment **/ [ 1 /***/ 2 ]
