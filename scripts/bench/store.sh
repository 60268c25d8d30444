#!/usr/bin/env bash
# Store benchmarks: sparse-aware hashing and copying (imgx-store's hash.rs and copy.rs).
#
# Usage:  scripts/bench/store.sh            (run from any directory)
#
# Environment:
#   BENCH_RUNS=N         timed runs for imgx and cp (default 5, after 1 warm-up run)
#   BENCH_B3SUM_RUNS=N   timed runs for b3sum, which is slow on sparse files (default 2, no warm-up)
#   BENCH_REFLINK_RUNS=N timed runs for the reflink case, which takes milliseconds (default 30)
#   BENCH_SIZE_GIB=N     apparent size of the sparse file (default 16)
#   BENCH_DATA_MIB=N     data in it, in 16 MiB extents scattered over the file (default 1024)
#   BENCH_DIR=DIR        where the big files go (default: a fresh directory under /var/tmp,
#                        removed at the end); needs BENCH_DATA_MIB x 3 of free space
#   BENCH_OUT=DIR        where hyperfine's JSON/CSV go (default: a fresh mktemp -d, kept)
#   BENCH_NO_XFS=1       skip the reflink case (it needs root, a loop device and mkfs.xfs)
#   BENCH_NO_BUILD=1     skip `cargo build` (use the existing binary)
#   STORE_BENCH=PATH     store_bench binary to time (default: <target dir>/release/examples/store_bench)
#
# Cases, all in one run:
#   1. hashing: `store_bench hash F` (imgx's sparse-aware hash) vs `b3sum F` on a sparse file.
#      Also timed: `store_bench b3 F`, the plain BLAKE3 (b3sum's output) computed without reading
#      holes, which shows what b3sum-compatible hashes would cost. Checks: `b3` equals b3sum, and
#      `hash` equals `hash-dense` (the same format computed naively from every byte).
#   2. copying it on the same file system (ext4 here: no reflinks): `store_bench copy` vs
#      `cp --sparse=always`; the destination is removed before every run. Checks: same hash,
#      and the blocks allocated to each copy.
#   3. copying on a loop-mounted XFS with reflink=1: `store_bench copy` vs `cp --reflink=always`.
#      Prints the method copy_file reports (target: reflink).
# Targets: imgx's hash faster than b3sum; copies no slower than cp. A missed target is flagged
# MISSED but does not fail the script; it fails only when something cannot run or a check fails.
#
# Needs: cargo, hyperfine, b3sum, xfsprogs (installed with apt-get when missing, as root or
# through sudo), awk, dd, truncate, stat. The timings are warm-cache: the data extents are in the
# page cache after the file is written.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
RUNS=${BENCH_RUNS:-5}
B3SUM_RUNS=${BENCH_B3SUM_RUNS:-2}
REFLINK_RUNS=${BENCH_REFLINK_RUNS:-30}
SIZE_GIB=${BENCH_SIZE_GIB:-16}
DATA_MIB=${BENCH_DATA_MIB:-1024}
EXTENT_MIB=16

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'store.sh: error: %s\n' "$*" >&2; exit 1; }

for v in RUNS B3SUM_RUNS REFLINK_RUNS SIZE_GIB DATA_MIB; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
EXTENTS=$((DATA_MIB / EXTENT_MIB))
[[ $EXTENTS -ge 1 ]] || die "BENCH_DATA_MIB must be at least $EXTENT_MIB"
SLOT_MIB=$((SIZE_GIB * 1024 / EXTENTS))
[[ $SLOT_MIB -ge $((EXTENT_MIB * 2)) ]] || die "the data must be at most half of the file"

# --- tools ------------------------------------------------------------------

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi
APT_UPDATED=0
apt_install() { # apt_install PACKAGE: install a Debian package, as root or through sudo
    [[ $(id -u) -eq 0 || ${#SUDO[@]} -gt 0 ]] || die "need the Debian package '$1' (not root and no sudo)"
    command -v apt-get >/dev/null || die "need '$1' and there is no apt-get to install it"
    log "installing Debian package $1"
    if [[ $APT_UPDATED -eq 0 ]]; then
        "${SUDO[@]}" apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "$1" >&2 || die "apt-get install $1 failed"
}

command -v hyperfine >/dev/null || apt_install hyperfine
command -v b3sum >/dev/null || apt_install b3sum
XFS=1
if [[ -n ${BENCH_NO_XFS:-} ]]; then
    XFS=0
elif [[ $(id -u) -ne 0 ]]; then
    log "not root: skipping the XFS reflink case"
    XFS=0
else
    command -v mkfs.xfs >/dev/null || apt_install xfsprogs
fi
for tool in awk dd truncate stat cp cmp; do command -v "$tool" >/dev/null || die "need $tool"; done

# --- store_bench ----------------------------------------------------------------

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
SB=${STORE_BENCH:-$TARGET_DIR/release/examples/store_bench}
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    command -v cargo >/dev/null || die "need cargo (or set BENCH_NO_BUILD=1 and STORE_BENCH=...)"
    log "cargo build --release -p imgx-store --example store_bench (in $ROOT)"
    (cd "$ROOT" && cargo build --release -p imgx-store --example store_bench) || die "release build failed"
fi
[[ -x $SB ]] || die "no store_bench binary at $SB"

# --- scratch space and cleanup --------------------------------------------------

OWN_DIR=0
if [[ -n ${BENCH_DIR:-} ]]; then
    WORK=$BENCH_DIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /var/tmp/imgx-bench-store.XXXXXX)
    OWN_DIR=1
fi
WORK=$(cd -- "$WORK" && pwd -P)
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/imgx-bench-store-out.XXXXXX")}
mkdir -p "$OUT"
MNT=/mnt/imgx-bench-xfs
MOUNTED=0

cleanup() {
    if [[ $MOUNTED -eq 1 ]]; then
        umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
        rmdir "$MNT" 2>/dev/null || true
    fi
    rm -f "$WORK/sparse.img" "$WORK/copy.imgx" "$WORK/copy.cp" "$WORK/xfs.img"
    if [[ $OWN_DIR -eq 1 ]]; then rmdir "$WORK" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_kib=$((DATA_MIB * 3 * 1024 + 1024 * 1024))
free_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
[[ $free_kib -ge $need_kib ]] || die "$WORK has $((free_kib / 1024)) MiB free, needs $((need_kib / 1024)) MiB"

# --- helpers ----------------------------------------------------------------------

# quote WORDS...: one shell-quoted command line, for hyperfine
quote() { local out='' w; for w in "$@"; do out+="$(printf '%q' "$w") "; done; printf '%s' "${out% }"; }
mean() { awk -F, -v n="$2" '$1 == n { print $2 }' "$1"; }
sd() { awk -F, -v n="$2" '$1 == n { print $3 }' "$1"; }
fmt_time() { awk -v m="$1" -v s="$2" 'BEGIN { if (m == "") printf "n/a"; else printf "%.3f ± %.3f", m, s }'; }
# speedup REF IMGX: REF/IMGX (how many times faster imgx is), MISSED when below 1.0
speedup() {
    awk -v r="$1" -v i="$2" 'BEGIN {
        if (r == "" || i == "" || i + 0 == 0) { print "n/a"; exit }
        x = r / i; s = sprintf("%.2f×", x); if (x < 1.0) s = s " MISSED"; print s }'
}
allocated_mib() { awk -v b="$(stat -c %b "$1")" -v u="$(stat -c %B "$1")" 'BEGIN { printf "%.0f", b * u / 1048576 }'; }

# make_sparse FILE: SIZE_GIB apparent size, EXTENTS extents of 16 MiB of random data, one in each
# of EXTENTS equal slots at a varying offset, not aligned to 64 KiB (4 KiB-aligned, as dd seeks).
make_sparse() {
    local f=$1 i off
    rm -f "$f"
    truncate -s "${SIZE_GIB}G" "$f"
    for ((i = 0; i < EXTENTS; i++)); do
        off=$((i * SLOT_MIB * 256 + (i * 7919 % ((SLOT_MIB - EXTENT_MIB) * 256))))
        dd if=/dev/urandom of="$f" bs=4K count=$((EXTENT_MIB * 256)) seek="$off" conv=notrunc status=none
    done
}

ROWS=()
NOTES=()
FAILED=0
check() { # check WHAT OK: record a check's result
    if [[ $2 -eq 1 ]]; then NOTES+=("check passed: $1"); else NOTES+=("CHECK FAILED: $1"); FAILED=1; fi
}

# --- 1. hashing -------------------------------------------------------------------

F=$WORK/sparse.img
log "writing a ${SIZE_GIB} GiB sparse file with $DATA_MIB MiB of data in $EXTENTS extents: $F"
make_sparse "$F"
log "allocated: $(allocated_mib "$F") MiB of $((SIZE_GIB * 1024)) MiB"

log "checks: store_bench hash vs hash-dense, store_bench b3 vs b3sum"
h_imgx=$("$SB" hash "$F")
h_dense=$("$SB" hash-dense "$F")
h_b3=$("$SB" b3 "$F")
h_b3sum=$(b3sum --no-names "$F")
[[ $h_imgx == "$h_dense" ]] && ok=1 || ok=0
check "imgx hash of the sparse file = the format computed from every byte ($h_imgx)" $ok
[[ $h_b3 == "$h_b3sum" ]] && ok=1 || ok=0
check "store_bench b3 = b3sum ($h_b3sum)" $ok

log "timing hashing"
hyperfine --shell=none --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$OUT/hash.json" --export-csv "$OUT/hash.csv" \
    -n imgx-hash "$(quote "$SB" hash "$F")" \
    -n imgx-b3 "$(quote "$SB" b3 "$F")" >&2 || die "hyperfine failed (hash)"
hyperfine --shell=none --runs "$B3SUM_RUNS" --style basic \
    --export-json "$OUT/b3sum.json" --export-csv "$OUT/b3sum.csv" \
    -n b3sum "$(quote b3sum "$F")" >&2 || die "hyperfine failed (b3sum)"
m_hash=$(mean "$OUT/hash.csv" imgx-hash) s_hash=$(sd "$OUT/hash.csv" imgx-hash)
m_b3=$(mean "$OUT/hash.csv" imgx-b3) s_b3=$(sd "$OUT/hash.csv" imgx-b3)
m_b3sum=$(mean "$OUT/b3sum.csv" b3sum) s_b3sum=$(sd "$OUT/b3sum.csv" b3sum)
ROWS+=("| hash ${SIZE_GIB} GiB sparse, $DATA_MIB MiB data | \`store_bench hash\` | $(fmt_time "$m_hash" "$s_hash") | \`b3sum\` | $(fmt_time "$m_b3sum" "$s_b3sum") | $(speedup "$m_b3sum" "$m_hash") | imgx format, not b3sum's |")
ROWS+=("| same, plain BLAKE3 | \`store_bench b3\` | $(fmt_time "$m_b3" "$s_b3") | \`b3sum\` | $(fmt_time "$m_b3sum" "$s_b3sum") | $(speedup "$m_b3sum" "$m_b3") | b3sum's output; holes hashed from memory |")

# --- 2. sparse copy ------------------------------------------------------------------

D1=$WORK/copy.imgx D2=$WORK/copy.cp
rm -f "$D1" "$D2"
method=$("$SB" copy "$F" "$D1")
cp --sparse=always "$F" "$D2"
[[ $("$SB" hash "$D1") == "$h_imgx" ]] && ok=1 || ok=0
check "the copy_file copy ($method) hashes like its source" $ok
cmp -s "$D1" "$D2" && ok=1 || ok=0
check "the copy_file copy and the cp copy are byte-identical" $ok
alloc_src=$(allocated_mib "$F") alloc_imgx=$(allocated_mib "$D1") alloc_cp=$(allocated_mib "$D2")
NOTES+=("allocated MiB: source $alloc_src, copy_file copy $alloc_imgx, cp copy $alloc_cp")
rm -f "$D1" "$D2"

fs_type=$(findmnt -n -o FSTYPE -T "$WORK" 2>/dev/null || stat -f -c %T "$WORK")
log "timing copies on $fs_type (copy_file: $method)"
hyperfine --shell=none --warmup 1 --runs "$RUNS" --style basic \
    --export-json "$OUT/copy.json" --export-csv "$OUT/copy.csv" \
    --prepare "$(quote rm -f "$D1" "$D2")" \
    -n imgx-copy "$(quote "$SB" copy "$F" "$D1")" \
    -n cp "$(quote cp --sparse=always "$F" "$D2")" >&2 || die "hyperfine failed (copy)"
rm -f "$D1" "$D2"
m_copy=$(mean "$OUT/copy.csv" imgx-copy) s_copy=$(sd "$OUT/copy.csv" imgx-copy)
m_cp=$(mean "$OUT/copy.csv" cp) s_cp=$(sd "$OUT/copy.csv" cp)
ROWS+=("| copy it on $fs_type | \`store_bench copy\` | $(fmt_time "$m_copy" "$s_copy") | \`cp --sparse=always\` | $(fmt_time "$m_cp" "$s_cp") | $(speedup "$m_cp" "$m_copy") | method: $method |")

# --- 3. reflink copy on XFS ----------------------------------------------------------------

if [[ $XFS -eq 1 ]]; then
    IMG=$WORK/xfs.img
    log "making a loop-mounted XFS (reflink=1) at $MNT"
    rm -f "$IMG"
    truncate -s "$((SIZE_GIB + 4 > 20 ? SIZE_GIB + 4 : 20))G" "$IMG"
    mkfs.xfs -q -m reflink=1 "$IMG" >&2 || die "mkfs.xfs failed"
    mkdir -p "$MNT"
    if mountpoint -q "$MNT"; then die "$MNT is already a mount point"; fi
    mount -o loop "$IMG" "$MNT" || die "mount -o loop failed (no loop devices?); set BENCH_NO_XFS=1 to skip"
    MOUNTED=1
    XF=$MNT/sparse.img
    "$SB" copy "$F" "$XF" >/dev/null
    rm -f "$F" # not needed any more: the XFS copy is the source from here on
    xmethod=$("$SB" copy "$XF" "$MNT/copy.imgx")
    [[ $("$SB" hash "$MNT/copy.imgx") == "$h_imgx" ]] && ok=1 || ok=0
    check "the XFS copy_file copy ($xmethod) hashes like the source" $ok
    [[ $xmethod == reflink ]] && ok=1 || ok=0
    check "copy_file on XFS with reflink=1 reports reflink" $ok
    rm -f "$MNT/copy.imgx"
    log "timing copies on XFS (copy_file: $xmethod)"
    hyperfine --shell=none --warmup 3 --runs "$REFLINK_RUNS" --style basic \
        --export-json "$OUT/reflink.json" --export-csv "$OUT/reflink.csv" \
        --prepare "$(quote rm -f "$MNT/copy.imgx" "$MNT/copy.cp")" \
        -n imgx-copy "$(quote "$SB" copy "$XF" "$MNT/copy.imgx")" \
        -n cp "$(quote cp --reflink=always "$XF" "$MNT/copy.cp")" >&2 || die "hyperfine failed (reflink)"
    m_x=$(mean "$OUT/reflink.csv" imgx-copy) s_x=$(sd "$OUT/reflink.csv" imgx-copy)
    m_xcp=$(mean "$OUT/reflink.csv" cp) s_xcp=$(sd "$OUT/reflink.csv" cp)
    ROWS+=("| copy it on XFS (reflink=1, loop) | \`store_bench copy\` | $(fmt_time "$m_x" "$s_x") | \`cp --reflink=always\` | $(fmt_time "$m_xcp" "$s_xcp") | $(speedup "$m_xcp" "$m_x") | method: $xmethod |")
else
    NOTES+=("the XFS reflink case was skipped")
fi

# --- report ---------------------------------------------------------------------------------

echo
echo "imgx-store hashing and copying, $RUNS runs (b3sum: $B3SUM_RUNS, reflink case: $REFLINK_RUNS), $(date -u +%Y-%m-%d)"
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]]; then rev+=" + uncommitted changes"; fi
echo "store_bench: $SB; work tree at commit $rev; $(b3sum --version); $(cp --version | head -n1)"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "file: ${SIZE_GIB} GiB apparent, $DATA_MIB MiB of random data in $EXTENTS extents of $EXTENT_MIB MiB; warm page cache"
echo "times: wall-clock mean ± stddev in seconds; speed-up = reference time / imgx time (target ≥ 1)"
echo
echo "| case | imgx | imgx time (s) | reference | reference time (s) | speed-up | note |"
echo "|---|---|---:|---|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
printf -- '- %s\n' "${NOTES[@]}"
echo
echo "raw results (hyperfine JSON/CSV): $OUT"
[[ $FAILED -eq 0 ]] || die "a check failed"
