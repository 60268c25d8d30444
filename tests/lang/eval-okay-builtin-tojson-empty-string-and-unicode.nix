builtins.toJSON [ "" "日本" "😀" ]
