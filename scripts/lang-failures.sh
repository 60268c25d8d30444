#!/usr/bin/env bash
# Lists the conformance cases in tests/lang that imgx gets wrong, one line
# each, with what it printed instead. Usage: scripts/lang-failures.sh [PATTERN]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
imgx=${IMGX:-$root/target/debug/imgx}
cd "$root/tests/lang"
pattern=${1:-}
for case in eval-okay-*${pattern}*.nix; do
  [ -e "$case" ] || continue
  got=$(NO_COLOR=1 timeout 20 "$imgx" eval --strict "$case" 2>&1)
  if [ "$got" != "$(cat "${case%.nix}.exp")" ]; then
    printf '%s\n  want: %s\n  got:  %s\n' "$case" "$(head -c 300 "${case%.nix}.exp")" "$(printf '%s' "$got" | head -3 | head -c 300)"
  fi
done
for case in eval-fail-*${pattern}*.nix; do
  [ -e "$case" ] || continue
  got=$(NO_COLOR=1 timeout 20 "$imgx" eval --strict "$case" 2>&1); code=$?
  want=$(head -1 "${case%.nix}.exp-err")
  if [ $code -ne 1 ] || ! grep -qF -- "$want" <<<"$got" || grep -q panicked <<<"$got"; then
    printf '%s (exit %s)\n  want: %s\n  got:  %s\n' "$case" "$code" "$want" "$(printf '%s' "$got" | head -2 | head -c 300)"
  fi
done
