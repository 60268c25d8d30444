#!/usr/bin/env bash
# Build benchmark: a no-op `imgx build` of an unchanged 1,001-step graph against
# `nix-build` of the same graph made of 1,001 derivations that are already built.
#
# Usage:  scripts/bench/build.sh            (run from any directory, as root)
#
# Environment:
#   BENCH_RUNS=N        timed runs per no-op command (default 10, after 2 warm-up runs)
#   BENCH_OUT=DIR       keep hyperfine's JSON/CSV and the build logs in DIR
#                       (default: they go to the temporary directory, which is removed)
#   BENCH_NO_BUILD=1    skip `cargo build --release` (use the existing binary)
#   BENCH_KEEP_NIX=1    keep this run's derivations and outputs in /nix/store
#                       (default: they are deleted with `nix-store --delete` at the end)
#   IMGX=PATH           imgx binary to time (default: <target dir>/release/imgx)
#
# The graphs are scripts/bench/build/imgx.nix and scripts/bench/build/nix.nix:
# 900 leaves (imgx `file` steps / derivations that echo their text), 100
# aggregators of 9 leaves each (imgx `directory` steps / derivations that
# `mkdir $out` and copy their leaves in), and a top directory of the 100
# aggregators. Both take a `salt` that goes into every leaf's text; each run
# uses a fresh salt, so the first build is cold in both stores.
#
# Steps:
#   1. cold builds, once each, timed (informational): imgx into a fresh
#      IMGX_STORE under a temporary directory, Nix into its default store.
#      Checks: both outputs hold the same tree (diff -r).
#   2. checks that a rebuild is a no-op: imgx reports nothing built and a
#      cached evaluation; nix-build prints the same output path and builds nothing.
#   3. one hyperfine run (--warmup 2 --runs $BENCH_RUNS, --shell=none) of
#        imgx build imgx.nix --no-out-link                    (evaluation cache on)
#        imgx build imgx.nix --no-out-link --no-eval-cache    (evaluates every time)
#        nix-build nix.nix --no-out-link --option sandbox false ...
#   4. prints a Markdown table: means, nix-build/imgx ratios (target: nix-build
#      at least 2x slower than the cached imgx no-op; a miss is flagged MISSED but
#      does not fail the script).
#
# Nix runs without a daemon: NIX_REMOTE is unset, the state directories under
# /nix/var/nix are created if missing, and it builds with
# `--option sandbox false --option build-users-group "" --option substituters ""`.
# Needs: root (to write /nix/store), cargo, nix-build (Debian package `nix-bin`),
# hyperfine (installed with apt-get when missing), awk, diff.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
CASE_DIR="$SCRIPT_DIR/build"
IMGX_FILE="$CASE_DIR/imgx.nix"
NIX_FILE="$CASE_DIR/nix.nix"
RUNS=${BENCH_RUNS:-10}
TARGET_RATIO=2

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ -f $IMGX_FILE && -f $NIX_FILE ]] || die "missing $IMGX_FILE or $NIX_FILE"

# --- temporary directory and cleanup ---------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/imgx-bench-build.XXXXXX")
NIX_DRV=''
cleanup() {
    local status=$?
    if [[ -n $NIX_DRV && -z ${BENCH_KEEP_NIX:-} ]]; then
        # This run's derivations and their outputs: nothing else refers to them.
        local drvs outs
        drvs=$(nix-store -qR "$NIX_DRV" 2>/dev/null || true)
        if [[ -n $drvs ]]; then
            # shellcheck disable=SC2086 # one store path per word
            outs=$(nix-store -q --outputs $drvs 2>/dev/null || true)
            # shellcheck disable=SC2086
            nix-store --delete $outs $drvs >/dev/null 2>&1 \
                || log "could not delete this run's Nix paths (top: $NIX_DRV)"
        fi
    fi
    # imgx's store objects are read-only.
    chmod -R u+w "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
OUT=$(cd -- "$OUT" && pwd -P)

# --- tools ------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "run as root: nix-build without a daemon writes /nix/store"
APT_UPDATED=0
apt_install() { # apt_install PACKAGE
    command -v apt-get >/dev/null || die "need '$1' and there is no apt-get to install it"
    log "installing Debian package $1"
    if [[ $APT_UPDATED -eq 0 ]]; then
        apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2 || die "apt-get install $1 failed"
}
command -v hyperfine >/dev/null || apt_install hyperfine
command -v nix-build >/dev/null || apt_install nix-bin
for tool in awk diff nix-instantiate nix-store; do
    command -v "$tool" >/dev/null || die "need $tool"
done
command -v cargo >/dev/null || [[ -n ${BENCH_NO_BUILD:-} ]] || die "need cargo (or set BENCH_NO_BUILD=1 and IMGX=...)"

# --- Nix without a daemon -----------------------------------------------------------

unset NIX_REMOTE
mkdir -p /nix/store /nix/var/nix/db /nix/var/nix/gcroots/per-user /nix/var/nix/profiles/per-user \
    /nix/var/nix/temproots /nix/var/nix/userpool /nix/var/log/nix/drvs
NIX_OPTS=(--option sandbox false --option build-users-group '' --option substituters ''
    --option max-jobs auto)
nix-instantiate "${NIX_OPTS[@]}" --eval --expr '1 + 1' >/dev/null || die "nix-instantiate does not run here"

# --- imgx ---------------------------------------------------------------------------

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
IMGX=${IMGX:-$TARGET_DIR/release/imgx}
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "cargo build --release (in $ROOT)"
    (cd "$ROOT" && cargo build --release) || die "release build failed"
fi
[[ -x $IMGX ]] || die "no imgx binary at $IMGX"
IMGX=$(cd -- "$(dirname -- "$IMGX")" && pwd -P)/$(basename -- "$IMGX")

export IMGX_STORE="$WORK/imgx-store"
export NO_COLOR=1
unset IMGX_PATH
# imgx resolves relative paths and writes nothing into the working directory
# with --no-out-link; run everything from the temporary directory anyway.
cd "$WORK"

SALT="run-$(date +%s)-$$"
IMGX_CMD=("$IMGX" build "$IMGX_FILE" --no-out-link --argstr salt "$SALT")
IMGX_NOCACHE_CMD=("${IMGX_CMD[@]}" --no-eval-cache)
NIX_CMD=(nix-build "$NIX_FILE" --no-out-link --argstr salt "$SALT" "${NIX_OPTS[@]}")

# quote WORDS...: one shell-quoted command line, for hyperfine
quote() { local out='' w; for w in "$@"; do out+="$(printf '%q' "$w") "; done; printf '%s' "${out% }"; }

# timed NAME CMD...: run once, stdout to $OUT/NAME.out, stderr to $OUT/NAME.err;
# prints the wall-clock seconds. Fails (with the end of the log) if the command fails.
timed() {
    local name=$1 start end; shift
    start=$EPOCHREALTIME
    if ! "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then
        tail -n 20 "$OUT/$name.err" >&2
        die "$name failed: $(quote "$@")"
    fi
    end=$EPOCHREALTIME
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

# --- 1. cold builds ------------------------------------------------------------------

NIX_DRV=$(nix-instantiate "${NIX_OPTS[@]}" "$NIX_FILE" --argstr salt "$SALT" 2>"$OUT/nix-instantiate.err") \
    || { cat "$OUT/nix-instantiate.err" >&2; die "nix-instantiate $NIX_FILE failed"; }
log "cold imgx build (store $IMGX_STORE)"
IMGX_COLD=$(timed imgx-cold "${IMGX_CMD[@]}")
log "cold nix-build ($NIX_DRV)"
NIX_COLD=$(timed nix-cold "${NIX_CMD[@]}")

IMGX_TOP=$(tail -n 1 "$OUT/imgx-cold.out")
NIX_TOP=$(tail -n 1 "$OUT/nix-cold.out")
[[ -d $IMGX_TOP && -d $NIX_TOP ]] || die "no output directory (imgx: '$IMGX_TOP', nix: '$NIX_TOP')"
diff -r "$IMGX_TOP" "$NIX_TOP" >"$OUT/diff.txt" \
    || die "the two graphs' outputs differ (see $OUT/diff.txt, kept only with BENCH_OUT): $(head -c 300 "$OUT/diff.txt")"
FILES=$(find "$IMGX_TOP" -type f | wc -l)
[[ $FILES -eq 900 ]] || die "expected 900 leaf files in the top output, found $FILES"

# --- 2. the rebuilds are no-ops ----------------------------------------------------------

"${IMGX_CMD[@]}" --json >"$OUT/imgx-noop.json" 2>"$OUT/imgx-noop.err" || die "imgx no-op build failed"
awk '/"event":"evaluated"/ && /"cached":true/ && /"steps":1001/ { ok = 1 }
     /"event":"(built|started)"/ { bad = 1 }
     END { exit !(ok && !bad) }' "$OUT/imgx-noop.json" \
    || die "imgx's rebuild is not a cached no-op of 1,001 steps: $(head -c 400 "$OUT/imgx-noop.json")"
again=$("${NIX_CMD[@]}" 2>"$OUT/nix-noop.err") || die "nix-build no-op failed: $(tail -n 5 "$OUT/nix-noop.err")"
[[ $again == "$NIX_TOP" ]] || die "nix-build's rebuild printed '$again', not '$NIX_TOP'"
if grep -q 'will be built\|^building' "$OUT/nix-noop.err"; then
    die "nix-build's rebuild built something: $(head -c 300 "$OUT/nix-noop.err")"
fi

# --- 3. timed no-op rebuilds ---------------------------------------------------------------

log "no-op rebuilds: hyperfine, 2 warm-up + $RUNS runs each"
hyperfine --shell=none --warmup 2 --runs "$RUNS" --style basic \
    --export-json "$OUT/noop.json" --export-csv "$OUT/noop.csv" \
    -n imgx "$(quote "${IMGX_CMD[@]}")" \
    -n imgx-no-eval-cache "$(quote "${IMGX_NOCACHE_CMD[@]}")" \
    -n nix-build "$(quote "${NIX_CMD[@]}")" >&2 || die "hyperfine failed"

# field CSV NAME COLUMN: a column of hyperfine's CSV (2 mean, 3 stddev, 5 user, 6 system, 7 min, 8 max)
field() { awk -F, -v n="$2" -v c="$3" '$1 == n { print $c }' "$1"; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
row() { # row NAME LABEL
    local csv="$OUT/noop.csv" m sd mn mx cpu
    m=$(field "$csv" "$1" 2) sd=$(field "$csv" "$1" 3) mn=$(field "$csv" "$1" 7) mx=$(field "$csv" "$1" 8)
    cpu=$(awk -v u="$(field "$csv" "$1" 5)" -v s="$(field "$csv" "$1" 6)" 'BEGIN { print u + s }')
    printf '| %s | %s ± %s | %s | %s | %s | %s |\n' "$2" "$(ms "$m")" "$(ms "$sd")" "$(ms "$mn")" "$(ms "$mx")" \
        "$(ms "$cpu")" "$(awk -v n="$NIX_MEAN" -v m="$m" 'BEGIN { printf "%.2f", n / m }')"
}
NIX_MEAN=$(field "$OUT/noop.csv" nix-build 2)
IMGX_MEAN=$(field "$OUT/noop.csv" imgx 2)
RATIO=$(awk -v n="$NIX_MEAN" -v m="$IMGX_MEAN" 'BEGIN { printf "%.2f", n / m }')
VERDICT=$(awk -v r="$RATIO" -v t="$TARGET_RATIO" 'BEGIN { print (r >= t) ? "met" : "MISSED" }')

# --- 4. report ----------------------------------------------------------------------------

rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then rev+=" + uncommitted changes"; fi
echo
echo "No-op rebuild of an unchanged 1,001-step graph (900 leaves, 100 aggregators of 9, 1 top), $(date -u +%Y-%m-%d)"
echo "imgx: $IMGX (work tree at commit $rev); $(nix-build --version | head -n1)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "hyperfine --shell=none --warmup 2 --runs $RUNS; times in ms; cpu = mean user+system"
echo
echo "| command | mean ± σ (ms) | min (ms) | max (ms) | cpu (ms) | nix-build / this |"
echo "|---|---:|---:|---:|---:|---:|"
row imgx '`imgx build --no-out-link`'
row imgx-no-eval-cache '`imgx build --no-out-link --no-eval-cache`'
row nix-build '`nix-build --no-out-link --option sandbox false …`'
echo
echo "nix-build / imgx (cached no-op): ${RATIO}x, target ≥ ${TARGET_RATIO}x: $VERDICT"
echo
echo "Cold builds of the same graphs, once each (informational):"
echo
echo "| command | wall (s) |"
echo "|---|---:|"
echo "| \`imgx build\` (fresh store) | $IMGX_COLD |"
echo "| \`nix-build\` (max-jobs auto) | $NIX_COLD |"
if [[ -n ${BENCH_OUT:-} ]]; then
    echo
    echo "raw results (hyperfine JSON/CSV, build logs): $OUT"
fi
