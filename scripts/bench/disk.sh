#!/usr/bin/env bash
# Disk benchmark: a 4 GiB GPT disk (100 MiB ESP, ext4 root filled from a 300 MiB tree)
# converted to qcow2, built by imgx (`disk` + `convert` steps) against a shell script that
# runs the same sfdisk / mkfs.vfat / mmd / mcopy / dd / mkfs.ext4 / qemu-img commands.
#
# Usage:  scripts/bench/disk.sh            (run from any directory)
#
# Environment:
#   BENCH_RUNS=N        timed runs of each command (default 6), taken in rounds of BENCH_ROUND
#   BENCH_ROUND=N       runs of each command per round (default 2); see "Rounds" below
#   BENCH_TREE_MIB=N    size of the root tree (default 300)
#   BENCH_DIR=DIR       where the trees, stores and images go (default: a fresh directory under
#                       /var/tmp, removed at the end); needs about (BENCH_RUNS + 3) x 0.7 GiB
#   BENCH_OUT=DIR       keep hyperfine's JSON in DIR (default: a fresh mktemp -d, kept)
#   BENCH_NO_BUILD=1    skip `cargo build --release` (use the existing binary)
#   IMGX=PATH           imgx binary to time (default: <target dir>/release/imgx)
#
# Rounds: the machines this runs on change speed over minutes (other tenants), and one hyperfine
# call times all runs of a command before the next command's, so a slow minute can fall on one
# command only. The runs are therefore taken in rounds: each round is one hyperfine call that
# times BENCH_ROUND runs of every command in turn (the first round also does one warm-up run of
# each); the means, deviations and ratios are over all rounds, and the median of the rounds'
# own imgx/script ratios is printed next to the ratio of the means.
#
# What is timed (hyperfine, warm page cache):
#   imgx:   `imgx build disk.nix --no-out-link` into a store that already holds the two input
#           trees (imported by a first, untimed build). The --prepare command removes what the
#           previous run made, as the script's does: the store's `realisations` rows and the two
#           output objects (rows and files). So every run is a first build of both steps into a
#           store that holds only the inputs: the disk (partition, format, populate, fix
#           owners/modes/times, register: hash + rename) and its qcow2 conversion
#           (written by imgx and hashed on the way, qemu-img check and info, register); the
#           evaluation is answered by the evaluation
#           cache (one stat per entry of the trees).
#   script: the same commands a person would type: truncate, sfdisk, mkfs.vfat + mcopy -s
#           into a partition file, dd conv=sparse,notrunc into the disk,
#           mkfs.ext4 -E offset=...,lazy_journal_init=1 -d TREE into the disk, qemu-img convert
#           -O qcow2. It pins the same identifiers and clock, but fixes no owners or times (the
#           files keep the host's) and syncs nothing.
#   script+debugfs: the script plus what it takes to give every file root's ownership and the
#           source date as imgx does: a `debugfs -w -f` of six `sif` commands per inode.
#   script-disk: the script without qemu-img, against the disk builder's own time inside imgx's
#           runs (its `duration_ms` in `--json`): the disk step alone.
# Checks (untimed): both images pass `qemu-img check`; both disks' tables list the same
# partitions; both root file systems pass `e2fsck -fn`.
# Prints a Markdown table with the means and the imgx/script ratios (target <= 1.2; a miss is
# flagged MISSED but does not fail the script, which fails only when something cannot run),
# and the disk and convert builders' own times inside imgx's runs. Also reported, once each and
# untimed by hyperfine: the first build (which imports both trees) and a build with
# --no-eval-cache (which evaluates again and finds both trees already in the store by hash).
#
# Needs: cargo, hyperfine (installed with apt-get when missing, as root or through sudo),
# python3 (to generate the tree), sqlite3, sfdisk, mkfs.vfat, mtools, mkfs.ext4, e2fsck, qemu-img.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
RUNS=${BENCH_RUNS:-6}
TREE_MIB=${BENCH_TREE_MIB:-300}
TARGET_RATIO=1.2

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'disk.sh: error: %s\n' "$*" >&2; exit 1; }

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ $TREE_MIB =~ ^[1-9][0-9]*$ ]] || die "BENCH_TREE_MIB must be a positive integer, got '$TREE_MIB'"

# --- tools ------------------------------------------------------------------

SUDO=()
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null; then SUDO=(sudo); fi
command -v hyperfine >/dev/null || { log "installing hyperfine"; "${SUDO[@]}" apt-get install -y hyperfine >/dev/null; }
for tool in python3 sfdisk mkfs.vfat mmd mcopy mkfs.ext4 e2fsck debugfs qemu-img; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps lists the packages)"
done

if [[ -z ${IMGX:-} ]]; then
    if [[ -z ${BENCH_NO_BUILD:-} ]]; then
        log "cargo build --release -p imgx"
        (cd "$ROOT" && cargo build --release -p imgx >&2)
    fi
    TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    IMGX=$TARGET_DIR/release/imgx
fi
[[ -x $IMGX ]] || die "no imgx binary at $IMGX"

# --- work area --------------------------------------------------------------

if [[ -n ${BENCH_DIR:-} ]]; then
    WORK=$BENCH_DIR; mkdir -p "$WORK"; KEEP_WORK=1
else
    WORK=$(mktemp -d /var/tmp/imgx-bench-disk.XXXXXX); KEEP_WORK=''
fi
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/imgx-bench-disk-out.XXXXXX")}
mkdir -p "$OUT"
cleanup() {
    local status=$?
    chmod -R u+w "$WORK" 2>/dev/null || true
    if [[ -z $KEEP_WORK ]]; then rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT

# --- inputs: a deterministic 300 MiB tree and an ESP -------------------------

log "generating a ${TREE_MIB} MiB tree and the ESP in $WORK"
rm -rf "$WORK/tree" "$WORK/esp"
python3 - "$WORK" "$TREE_MIB" <<'EOF'
import os, random, sys
work, mib = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
budget = mib << 20
tree = os.path.join(work, "tree")
# Many small files (like /usr/share), a few large ones (like libraries), some symlinks.
written, n = 0, 0
big = [budget // 10, budget // 20, budget // 20, budget // 40]
for i, size in enumerate(big):
    os.makedirs(os.path.join(tree, "usr/lib/big"), exist_ok=True)
    with open(os.path.join(tree, f"usr/lib/big/lib{i}.so"), "wb") as f:
        f.write(rng.randbytes(size))
    written += size
while written < budget:
    d = os.path.join(tree, "usr/share", f"pkg{n // 60:03d}")
    os.makedirs(d, exist_ok=True)
    size = min(int(rng.lognormvariate(9.0, 1.6)) + 1, budget - written, 4 << 20)
    with open(os.path.join(d, f"file{n % 60:02d}.dat"), "wb") as f:
        f.write(rng.randbytes(size))
    if n % 25 == 0:
        os.symlink(f"file{n % 60:02d}.dat", os.path.join(d, f"link{n % 60:02d}"))
    written += size
    n += 1
for d in ["etc", "var/log", "home", "root", "tmp"]:
    os.makedirs(os.path.join(tree, d), exist_ok=True)
with open(os.path.join(tree, "etc/hostname"), "w") as f:
    f.write("bench\n")
esp = os.path.join(work, "esp")
for path, size in [("EFI/BOOT/BOOTX64.EFI", 1 << 20), ("vmlinuz", 8 << 20), ("initrd.img", 20 << 20)]:
    os.makedirs(os.path.dirname(os.path.join(esp, path)), exist_ok=True)
    with open(os.path.join(esp, path), "wb") as f:
        f.write(rng.randbytes(size))
os.makedirs(os.path.join(esp, "loader/entries"), exist_ok=True)
with open(os.path.join(esp, "loader/loader.conf"), "w") as f:
    f.write("default debian.conf\ntimeout 3\n")
with open(os.path.join(esp, "loader/entries/debian.conf"), "w") as f:
    f.write("title Debian\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=LABEL=root console=ttyS0\n")
print(f"{n + len(big)} files", file=sys.stderr)
EOF
FILES=$(find "$WORK/tree" -type f | wc -l)
TREE_BYTES=$(du -sb "$WORK/tree" | cut -f1)

# --- imgx -------------------------------------------------------------------

cat >"$WORK/disk.nix" <<'EOF'
let
  disk = builtins.step {
    kind = "disk"; name = "bench";
    size = "4G"; table = "gpt";
    partitions = [
      { label = "ESP"; type = "esp"; size = "100M"; fs = "vfat"; contents = ./esp; mount = "/boot/efi"; }
      { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree; mount = "/"; }
    ];
  };
in builtins.step { kind = "convert"; name = "bench-qcow2"; disk = disk; format = "qcow2"; }
EOF
export IMGX_STORE=$WORK/store NO_COLOR=1
log "first imgx build: imports the trees, evaluates, builds (untimed)"
FIRST_START=$(date +%s%N)
(cd "$WORK" && "$IMGX" build disk.nix --no-out-link --json >"$OUT/first.json")
FIRST_MS=$(( ($(date +%s%N) - FIRST_START) / 1000000 ))
built_field() { grep '"event":"built"' "$OUT/first.json" | grep "\"kind\":\"$1\"" | sed "s/.*\"$2\":\"\\{0,1\\}\\([0-9a-f]*\\).*/\\1/"; }
QCOW_IMGX=$(built_field convert output)
DISK_IMGX=$(built_field disk output)
DISK_MS=$(built_field disk duration_ms)
CONVERT_MS=$(built_field convert duration_ms)
[[ -n $QCOW_IMGX && -n $DISK_IMGX ]] || die "imgx did not build the disk and its conversion"
# Before each timed run, the previous run's outputs go, as the script's do: the realisations
# and both output objects. (Keeping the objects would make every run find its output already
# there and delete its fresh copy, 0.2-0.3 s per 350 MiB of unlinked extents, inside the
# timing, where the script removes its old images in --prepare.) The evaluation cache
# (checked by the trees' metadata) answers the evaluation. Without it, each path literal is
# hashed again (and found in the store); that costs a read of both trees, measured once here.
FORGET="sqlite3 '$WORK/store/db.sqlite' \"PRAGMA foreign_keys = ON; DELETE FROM realisations; DELETE FROM objects WHERE hash IN ('$DISK_IMGX', '$QCOW_IMGX')\" && rm -f '$WORK/store/objects/$DISK_IMGX' '$WORK/store/objects/$QCOW_IMGX'"
log "an imgx build with --no-eval-cache (untimed by hyperfine)"
sh -c "$FORGET"
NOCACHE_START=$(date +%s%N)
(cd "$WORK" && "$IMGX" build disk.nix --no-out-link --no-eval-cache --json >/dev/null)
NOCACHE_MS=$(( ($(date +%s%N) - NOCACHE_START) / 1000000 ))

# --- the script ---------------------------------------------------------------

cat >"$WORK/script.sh" <<'EOF'
#!/usr/bin/env bash
# The same disk, written by hand.
set -euo pipefail
out=$1 tree=$2 esp=$3
export TZ=UTC LC_ALL=C SOURCE_DATE_EPOCH=315532800 E2FSPROGS_FAKE_TIME=315532800 MTOOLS_SKIP_CHECK=1
rm -f "$out/disk.raw" "$out/esp.img" "$out/disk.qcow2"
truncate -s 4G "$out/disk.raw"
sfdisk --no-reread --no-tell-kernel -q "$out/disk.raw" <<TABLE
label: gpt
label-id: 6f0c1a4e-2d5b-4c1e-9a7f-3b8d2e1f0a11
unit: sectors
start=2048, size=204800, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=8a1f6a52-9c3e-4f0b-8d21-5e7c9b0a1d22, name="ESP"
start=206848, size=8179712, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e33, name="root"
TABLE
truncate -s 100M "$out/esp.img"
mkfs.vfat --invariant -i 1234ABCD -n ESP -h 2048 -F 32 "$out/esp.img" >/dev/null
mcopy -s -i "$out/esp.img" "$esp"/* ::/
dd if="$out/esp.img" of="$out/disk.raw" bs=1M seek=1 conv=sparse,notrunc status=none
mkfs.ext4 -q -F -L root -U 2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8044 \
  -E offset=$((206848 * 512)),hash_seed=3c4d5e6f-7081-4923-8b4c-5d6e7f809155,root_owner=0:0,lazy_journal_init=1 \
  -d "$tree" "$out/disk.raw" $((8179712 / 2))k
if [[ ${4:-} == fix ]]; then
  # What it takes to give the files root's ownership and the source date, as imgx does.
  { echo /; (cd "$tree" && find . -mindepth 1 -printf '/%P\n'); } | awk '{
      q = "\"" $0 "\""
      print "sif " q " uid 0"; print "sif " q " gid 0"
      split("atime mtime ctime crtime", f, " ")
      for (i = 1; i <= 4; i++) print "sif " q " " f[i] " @315532800"
    }' >"$out/fix.cmds"
  debugfs -w -f "$out/fix.cmds" "$out/disk.raw?offset=$((206848 * 512))" >/dev/null 2>&1
fi
if [[ ${5:-} != no-convert ]]; then
  qemu-img convert -O qcow2 "$out/disk.raw" "$out/disk.qcow2"
fi
EOF
chmod +x "$WORK/script.sh"
mkdir -p "$WORK/script-out"

# --- timing -------------------------------------------------------------------

ROUND=${BENCH_ROUND:-2}
[[ $ROUND =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUND must be a positive integer, got '$ROUND'"
ROUNDS=$(( (RUNS + ROUND - 1) / ROUND ))
log "timing: $ROUNDS rounds of $ROUND runs each ($FILES files, $((TREE_BYTES >> 20)) MiB in the tree)"
for (( round = 1; round <= ROUNDS; round++ )); do
    warmup=0; [[ $round -eq 1 ]] && warmup=1
    hyperfine --warmup "$warmup" --runs "$ROUND" --style basic \
        --export-json "$OUT/disk-$round.json" \
        -n imgx --prepare "$FORGET" \
        "cd '$WORK' && '$IMGX' build disk.nix --no-out-link --json >>'$OUT/runs.jsonl'" \
        -n script --prepare "rm -f '$WORK'/script-out/*" \
        "'$WORK/script.sh' '$WORK/script-out' '$WORK/tree' '$WORK/esp'" \
        -n script+debugfs --prepare "rm -f '$WORK'/script-out/*" \
        "'$WORK/script.sh' '$WORK/script-out' '$WORK/tree' '$WORK/esp' fix" \
        -n script-disk --prepare "rm -f '$WORK'/script-out/*" \
        "'$WORK/script.sh' '$WORK/script-out' '$WORK/tree' '$WORK/esp' plain no-convert" >&2
done
# The last run of script-disk left no qcow2: make the script's image again for the checks.
"$WORK/script.sh" "$WORK/script-out" "$WORK/tree" "$WORK/esp"

# --- checks -------------------------------------------------------------------

log "checking both images"
qemu-img check -q "$WORK/store/objects/$QCOW_IMGX" || die "imgx's qcow2 fails qemu-img check"
qemu-img check -q "$WORK/script-out/disk.qcow2" || die "the script's qcow2 fails qemu-img check"
tables() { sfdisk -d "$1" | grep '^[^ ]* : ' | sed 's/^[^:]*: //; s/, uuid=[^,]*//; s/, name=.*//'; }
diff <(tables "$WORK/store/objects/$DISK_IMGX") <(tables "$WORK/script-out/disk.raw") >/dev/null \
    || die "the two disks' partitions differ"
for pair in "imgx:$WORK/store/objects/$DISK_IMGX" "script:$WORK/script-out/disk.raw"; do
    name=${pair%%:*} disk=${pair#*:}
    dd if="$disk" of="$WORK/root.img" bs=1M skip=101 count=3994 conv=sparse status=none
    e2fsck -fn "$WORK/root.img" >/dev/null 2>&1 || die "$name's root file system fails e2fsck"
    rm -f "$WORK/root.img"
done
IMGX_ALLOC=$(( $(stat -c %b "$WORK/store/objects/$DISK_IMGX") * 512 >> 20 ))
SCRIPT_ALLOC=$(( $(stat -c %b "$WORK/script-out/disk.raw") * 512 >> 20 ))

# --- report -------------------------------------------------------------------

python3 - "$OUT" "$TARGET_RATIO" "$IMGX_ALLOC" "$SCRIPT_ALLOC" "$OUT/runs.jsonl" "$FIRST_MS" "$NOCACHE_MS" "$ROUNDS" <<'EOF'
import json, statistics, sys
rounds = [{r["command"]: r["times"] for r in json.load(open(f"{sys.argv[1]}/disk-{i}.json"))["results"]}
          for i in range(1, int(sys.argv[8]) + 1)]
results = {}
for command in rounds[0]:
    times = [t for r in rounds for t in r[command]]
    results[command] = {"mean": statistics.mean(times), "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
                        "times": times}
json.dump(results, open(f"{sys.argv[1]}/disk.json", "w"), indent=1)
per_round = [statistics.mean(r["imgx"]) / statistics.mean(r["script"]) for r in rounds]
target = float(sys.argv[2])
imgx, script, fixed = results["imgx"], results["script"], results["script+debugfs"]
def ratio(a, b):
    r = a["mean"] / b["mean"]
    return f"{r:.2f}" + ("" if r <= target else " MISSED")
print("| case | imgx (s) | script (s) | imgx/script | script+debugfs (s) | imgx/(script+debugfs) |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| 4 GiB GPT, ESP + ext4 from tree, to qcow2 | {imgx['mean']:.3f} ± {imgx['stddev']:.3f} "
      f"| {script['mean']:.3f} ± {script['stddev']:.3f} | {ratio(imgx, script)} "
      f"| {fixed['mean']:.3f} ± {fixed['stddev']:.3f} | {ratio(imgx, fixed)} |")
durations = {"disk": [], "convert": []}
for line in open(sys.argv[5]):
    event = json.loads(line)
    if event.get("event") == "built":
        durations[event["step"]["kind"]].append(event["duration_ms"] / 1000)
print()
print(f"imgx/script by round: {', '.join(f'{r:.2f}' for r in per_round)}; median {statistics.median(per_round):.2f} "
      f"({len(rounds)} rounds of {len(rounds[0]['imgx'])} runs).")
disk_mean = statistics.mean(durations["disk"])
only = results["script-disk"]
disk_ratio = disk_mean / only["mean"]
print(f"The disk step alone: imgx's disk builder {disk_mean:.3f} s (mean of {len(durations['disk'])} runs, "
      f"from --json) against the script without qemu-img {only['mean']:.3f} ± {only['stddev']:.3f} s: "
      f"{disk_ratio:.2f}" + ("" if disk_ratio <= target else " MISSED") + ". "
      f"Convert builder {statistics.mean(durations['convert']):.3f} s. The rest of imgx's wall time is "
      f"evaluation (answered by the evaluation cache) and the registrations: the disk's hashes it, the "
      f"qcow2's does not (imgx hashes the qcow2 as it writes it); neither waits for the disk "
      f"(store/src/durability.rs).")
print(f"Disk allocated: imgx {sys.argv[3]} MiB, script {sys.argv[4]} MiB. First imgx build, including the "
      f"import of both trees as path literals: {int(sys.argv[6]) / 1000:.1f} s. A build with --no-eval-cache "
      f"(evaluation again, both trees hashed and found in the store, both steps built): "
      f"{int(sys.argv[7]) / 1000:.1f} s.")
EOF
log "hyperfine's JSON (one file per round, disk.json merged) is in $OUT"
