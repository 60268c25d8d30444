#!/usr/bin/env bash
# Evaluator benchmarks: `imgx eval --strict` against `nix-instantiate --eval --strict`.
#
# Usage:  scripts/bench/eval.sh [CASE...]      (run from any directory)
#   CASE is a file name under scripts/bench/eval/ without `.nix`
#   (fib, list-fold, sort, attrs-update, strings, fixpoint); default: all.
#
# Environment:
#   BENCH_RUNS=N        timed runs per command (default 5, after 1 warm-up run)
#   BENCH_OUT=DIR       where hyperfine's JSON/CSV and the outputs go
#                       (default: a fresh directory from mktemp -d, kept afterwards)
#   BENCH_NO_BUILD=1    skip `cargo build --release -p imgx` (use the existing binary)
#   IMGX=PATH           imgx binary to time (default: <target dir>/release/imgx)
#
# Needs: cargo (to build imgx), nix-instantiate (Debian package `nix-bin`),
# hyperfine and GNU time (Debian packages `hyperfine` and `time`; installed
# with apt-get when missing, which needs root or sudo), awk.
#
# For each case it first runs both evaluators once under /usr/bin/time to get
# the output (which must match) and the peak RSS, then times both in one
# hyperfine run. It prints a Markdown table; a ratio above 1.0 (imgx slower or
# bigger than Nix) is flagged MISSED. Missed targets do not fail the script:
# the exit status is 0 unless something could not be run at all.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
CASE_DIR="$SCRIPT_DIR/eval"
ALL_CASES=(fib list-fold sort attrs-update strings fixpoint)
RUNS=${BENCH_RUNS:-5}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'eval.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"

# --- tools ------------------------------------------------------------------

APT_UPDATED=0
apt_install() { # apt_install PACKAGE: install a Debian package, as root or through sudo
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need the Debian package '$1' (not root and no sudo)"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null || die "need '$1' and there is no apt-get to install it"
    log "installing Debian package $1"
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${sudo[@]}" apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$1" >&2 \
        || die "apt-get install $1 failed"
}

command -v hyperfine >/dev/null || apt_install hyperfine
[[ -x /usr/bin/time ]] || apt_install time
command -v nix-instantiate >/dev/null || apt_install nix-bin
command -v awk >/dev/null || die "need awk"
command -v cargo >/dev/null || [[ -n ${BENCH_NO_BUILD:-} ]] || die "need cargo (or set BENCH_NO_BUILD=1 and IMGX=...)"

# --- Nix without a daemon -----------------------------------------------------
# `nix-instantiate --eval` reads and writes no store paths, but it opens the
# local store's state directory and creates a few folders in it. Use the local
# store directly (no daemon) and make sure its state directory exists and is
# writable; when /nix/var/nix is not ours, point Nix at a private one.
unset NIX_REMOTE
if [[ $(id -u) -eq 0 ]]; then
    mkdir -p /nix/store /nix/var/nix/db /nix/var/nix/gcroots/per-user \
        /nix/var/nix/profiles/per-user /nix/var/nix/temproots /nix/var/log/nix
elif ! { mkdir -p /nix/var/nix/temproots 2>/dev/null && [[ -w /nix/var/nix/temproots ]]; }; then
    NIX_PRIVATE=$(mktemp -d "${TMPDIR:-/tmp}/imgx-bench-nixstate.XXXXXX")
    export NIX_STATE_DIR="$NIX_PRIVATE/var" NIX_LOG_DIR="$NIX_PRIVATE/log"
    log "using a private Nix state directory $NIX_PRIVATE"
fi
NIX_CMD=(nix-instantiate --option sandbox false --eval --strict)
"${NIX_CMD[@]}" --expr '1 + 1' >/dev/null || die "nix-instantiate does not run here"

# --- imgx ---------------------------------------------------------------------

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
IMGX=${IMGX:-$TARGET_DIR/release/imgx}
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "cargo build --release -p imgx (in $ROOT)"
    (cd "$ROOT" && cargo build --release -p imgx) || die "release build failed"
fi
[[ -x $IMGX ]] || die "no imgx binary at $IMGX"
IMGX_CMD=("$IMGX" eval --strict)

# --- cases ----------------------------------------------------------------------

if [[ $# -gt 0 ]]; then CASES=("$@"); else CASES=("${ALL_CASES[@]}"); fi
for c in "${CASES[@]}"; do
    [[ -f $CASE_DIR/$c.nix ]] || die "no case '$c' (expected $CASE_DIR/$c.nix)"
done

OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/imgx-bench.XXXXXX")}
mkdir -p "$OUT"
log "results in $OUT; $RUNS runs per command after 1 warm-up"

# quote WORDS...: one shell-quoted command line, for hyperfine
quote() { local out='' w; for w in "$@"; do out+="$(printf '%q' "$w") "; done; printf '%s' "${out% }"; }

# peak WHICH CASE CMD...: run once, output to $OUT/CASE.WHICH.out, peak RSS (KiB) to .rss.
# Returns the command's exit status.
peak() {
    local which=$1 c=$2; shift 2
    /usr/bin/time -f %M -o "$OUT/$c.$which.rss" "$@" \
        >"$OUT/$c.$which.out" 2>"$OUT/$c.$which.err"
}

# mean CSV NAME: hyperfine's mean (seconds) for the command named NAME
mean() { awk -F, -v n="$2" '$1 == n { print $2 }' "$1"; }
sd() { awk -F, -v n="$2" '$1 == n { print $3 }' "$1"; }
cpu() { awk -F, -v n="$2" '$1 == n { print $5 + $6 }' "$1"; } # mean user + system seconds
rss_mib() { awk '/^[0-9]+$/ { v = $1 } END { if (v == "") print ""; else printf "%.1f", v / 1024 }' "$1"; }
# ratio A B: A/B with two decimals, and MISSED when above 1.0
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "" || b == "" || b + 0 == 0) { print "n/a"; exit }
        r = a / b; s = sprintf("%.2f", r); if (r > 1.0) s = s " MISSED"; print s }'
}
fmt_time() { # fmt_time MEAN SD
    [[ -n $1 ]] || { printf 'n/a'; return; }
    awk -v m="$1" -v s="$2" 'BEGIN { printf "%.3f ± %.3f", m, s }'
}

ROWS=()
NOTES=()
for c in "${CASES[@]}"; do
    f="$CASE_DIR/$c.nix"
    log "case $c"
    nix_ok=1 imgx_ok=1
    peak nix "$c" "${NIX_CMD[@]}" "$f" || nix_ok=0
    peak imgx "$c" "${IMGX_CMD[@]}" "$f" || imgx_ok=0
    if [[ $nix_ok -eq 0 ]]; then
        NOTES+=("$c: nix-instantiate failed: $(head -c 300 "$OUT/$c.nix.err" | tr '\n' ' ' || true)")
        ROWS+=("| $c | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
        continue
    fi
    if [[ $imgx_ok -eq 0 ]]; then
        NOTES+=("$c: imgx failed, not timed: $(grep -m1 -v '^[[:space:]]*$' "$OUT/$c.imgx.err" | sed 's/^[[:space:]]*//' | head -c 200 || true)")
    elif ! cmp -s "$OUT/$c.nix.out" "$OUT/$c.imgx.out"; then
        NOTES+=("$c: outputs differ, imgx not timed: nix '$(head -c 80 "$OUT/$c.nix.out")' vs imgx '$(head -c 80 "$OUT/$c.imgx.out")'")
        imgx_ok=0
    fi

    hf=(hyperfine --shell=none --warmup 1 --runs "$RUNS" --style basic
        --export-json "$OUT/$c.json" --export-csv "$OUT/$c.csv")
    [[ $imgx_ok -eq 1 ]] && hf+=(-n imgx "$(quote "${IMGX_CMD[@]}" "$f")")
    hf+=(-n nix "$(quote "${NIX_CMD[@]}" "$f")")
    "${hf[@]}" >&2 || die "hyperfine failed on $c"

    nm=$(mean "$OUT/$c.csv" nix) nsd=$(sd "$OUT/$c.csv" nix) ncpu=$(cpu "$OUT/$c.csv" nix)
    nrss=$(rss_mib "$OUT/$c.nix.rss")
    if [[ $imgx_ok -eq 1 ]]; then
        im=$(mean "$OUT/$c.csv" imgx) isd=$(sd "$OUT/$c.csv" imgx) icpu=$(cpu "$OUT/$c.csv" imgx)
        irss=$(rss_mib "$OUT/$c.imgx.rss")
    else
        im='' isd='' irss='' icpu=''
    fi
    ROWS+=("| $c | $(fmt_time "$im" "$isd") | $(fmt_time "$nm" "$nsd") | $(ratio "$im" "$nm") | ${irss:-n/a} | $nrss | $(ratio "$irss" "$nrss") | $(ratio "$icpu" "$ncpu") |")
done

echo
echo "imgx eval --strict vs nix-instantiate --eval --strict ($(nix-instantiate --version | head -n1)), $RUNS runs, $(date -u +%Y-%m-%d)"
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then rev+=" + uncommitted changes"; fi
echo "imgx: $IMGX; work tree at commit $rev"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "times: wall-clock mean ± stddev in seconds; peak RSS in MiB; target: ratio ≤ 1.00;"
echo "cpu: ratio of mean user+system CPU time (less sensitive to other load on the machine)"
echo
echo "| case | imgx time (s) | nix time (s) | time imgx/nix | imgx peak MiB | nix peak MiB | mem imgx/nix | cpu imgx/nix |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
if [[ ${#NOTES[@]} -gt 0 ]]; then
    echo
    printf -- '- %s\n' "${NOTES[@]}"
fi
echo
echo "raw results (hyperfine JSON/CSV, outputs, peak RSS): $OUT"
