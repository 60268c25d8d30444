[ (builtins.match "cat|dog" "dog") (builtins.match "(cat|dog)s" "cats") (builtins.match "cat|dog" "cow") ]
