[ ("a" == ./a) (toString ./a == toString ./a) ]
