[ "# not a comment" "/* nor this */" ]
