#!/bin/sh
# Builds the greeter into PREFIX: a program made from its template and the
# build's configuration, as a compiler would make it from its sources.
set -eu
prefix=${1:?usage: build.sh PREFIX}
name=$(cat NAME)
mkdir -p "$prefix/bin" "$prefix/share/greeter"
sed "s/@NAME@/$name/g" greeter.in >"$prefix/bin/greeter"
chmod 0755 "$prefix/bin/greeter"
cp README "$prefix/share/greeter/README"
echo "built greeter for $name into $prefix"
