[ (1 == 1) (1 == 2) (1 == 1.0) ("a" == "a") (null == null) (true == true) (true == false) ([ ] == [ ]) ({ } == { }) (/a == /a) ]
