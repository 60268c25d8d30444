#!/usr/bin/env bash
# Regenerate (or, with --check, verify) the expected outputs of the Nix
# language conformance corpus against the reference evaluator, Nix 2.8's
# `nix-instantiate --eval --strict`.
#
#   ./regen.sh            rewrite every eval-okay-*.exp (except HANDWRITTEN
#                         cases) and check every eval-fail-* case
#   ./regen.sh --check    compare only; print differences; exit 1 on any
#   ./regen.sh [--check] NAME...   only the cases whose file name contains NAME
#
# Every case is evaluated with this directory as working directory.
# Cases listed in HANDWRITTEN are not regenerated: their expected output was
# written by hand (features newer than Nix 2.8, or behaviour Nix 2.8 gets
# "wrong", such as integer overflow). For eval-fail cases in HANDWRITTEN a
# warning is printed when Nix 2.8 does not fail with the expected message.

set -u
cd "$(dirname "$0")" || exit 2

check=0
filters=()
for a in "$@"; do
    case "$a" in
        --check) check=1 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) filters+=("$a") ;;
    esac
done

NIX=${NIX_INSTANTIATE:-nix-instantiate}
if ! command -v "$NIX" >/dev/null 2>&1; then
    echo "regen.sh: $NIX not found (apt-get install nix-bin)" >&2
    exit 2
fi

# Keep the evaluation independent of the caller's environment.
unset NIX_PATH
export NIX_CONFIG=""
export TZ=UTC LC_ALL=C

declare -A handwritten=()
if [ -f HANDWRITTEN ]; then
    while read -r f _; do
        case "$f" in ''|'#'*) continue ;; esac
        handwritten["$f"]=1
    done < HANDWRITTEN
fi

selected() {
    [ ${#filters[@]} -eq 0 ] && return 0
    local f
    for f in "${filters[@]}"; do
        case "$1" in *"$f"*) return 0 ;; esac
    done
    return 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run_nix() { # FILE -> $tmp/out, $tmp/err, returns nix's exit code
    timeout 60 "$NIX" --eval --strict "$1" >"$tmp/out" 2>"$tmp/err" </dev/null
}

nok=0 nfail=0 nhand=0 problems=0 warnings=0 changed=0

for f in eval-okay-*.nix; do
    selected "$f" || continue
    exp="${f%.nix}.exp"
    if [ -n "${handwritten[$f]:-}" ]; then
        nhand=$((nhand + 1))
        if [ ! -f "$exp" ]; then
            echo "MISSING  $exp (handwritten case without expected output)"
            problems=$((problems + 1))
        fi
        continue
    fi
    nok=$((nok + 1))
    if ! run_nix "$f"; then
        echo "ERROR    $f: nix-instantiate failed:"
        sed 's/^/         /' "$tmp/err" | head -n 8
        problems=$((problems + 1))
        continue
    fi
    if [ $check -eq 1 ]; then
        if ! cmp -s "$tmp/out" "$exp" 2>/dev/null; then
            echo "DIFF     $f"
            diff "$exp" "$tmp/out" 2>&1 | sed 's/^/         /' | head -n 20
            problems=$((problems + 1))
        fi
    else
        if ! cmp -s "$tmp/out" "$exp" 2>/dev/null; then
            cp "$tmp/out" "$exp"
            echo "WROTE    $exp"
            changed=$((changed + 1))
        fi
    fi
done

for f in eval-fail-*.nix; do
    selected "$f" || continue
    experr="${f%.nix}.exp-err"
    if [ ! -f "$experr" ]; then
        echo "MISSING  $experr"
        problems=$((problems + 1))
        continue
    fi
    want=$(head -n 1 "$experr")
    hand=${handwritten[$f]:-}
    if [ -n "$hand" ]; then nhand=$((nhand + 1)); else nfail=$((nfail + 1)); fi
    if run_nix "$f"; then
        if [ -n "$hand" ]; then
            echo "WARNING  $f: Nix 2.8 does not fail (prints $(head -c 80 "$tmp/out" | tr '\n' ' ')); expected '$want' is handwritten"
            warnings=$((warnings + 1))
        else
            echo "ERROR    $f: Nix 2.8 does not fail"
            problems=$((problems + 1))
        fi
        continue
    fi
    if ! grep -qF -- "$want" "$tmp/err"; then
        if [ -n "$hand" ]; then
            echo "WARNING  $f: Nix 2.8 fails differently ($(grep -m1 '^error' "$tmp/err")); expected '$want' is handwritten"
            warnings=$((warnings + 1))
        else
            echo "DIFF     $f: stderr lacks '$want':"
            sed 's/^/         /' "$tmp/err" | head -n 8
            problems=$((problems + 1))
        fi
    fi
done

echo "okay cases checked: $nok, fail cases checked: $nfail, handwritten: $nhand, warnings: $warnings"
if [ $check -eq 0 ]; then
    echo "expected outputs rewritten: $changed"
fi
if [ $problems -ne 0 ]; then
    echo "PROBLEMS: $problems"
    exit 1
fi
exit 0
