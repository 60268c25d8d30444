# a line comment
/* a block
   comment */ 1 /* inline */ + # trailing
2
