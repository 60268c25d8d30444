#!/usr/bin/env bash
# Run-step benchmark: a `run` step whose script is `true`, built by imgx, against QEMU started
# by hand with the same kernel, initramfs, disk and job: the same boot to power-off, without
# imgx around it. The ratio is imgx's overhead (copying the disk, writing the job, the sockets
# and log, canonicalizing the output, hashing and registering it, evaluation).
#
# Usage:  scripts/bench/run.sh            (run from any directory)
#
# Environment:
#   BENCH_RUNS=N        timed runs of each (default 5, after 1 warm-up run)
#   BENCH_DIR=DIR       working folder (default: a fresh directory under /var/tmp, removed after)
#   BENCH_NO_BUILD=1    skip `cargo build --release`
#   IMGX=PATH           imgx binary to time (default: <target dir>/release/imgx)
#   IMGX_ACCEL          kvm or tcg, passed to both (default: imgx's probe decides, and the bare
#                       boot uses the same accelerator)
#
# What is timed (hyperfine, warm page cache):
#   imgx:  `imgx build run.nix --no-out-link` into a store that holds the build VM and the base
#          disk (a 256 MiB GPT disk: vfat ESP, ext4 root with a busybox userland) but not the
#          run step: the --prepare command restores that store from an untimed copy.
#   qemu:  qemu-system-x86_64 with the VM's kernel and initramfs, a fresh copy of the base disk
#          (the --prepare command copies it) and the job archive imgx would write, the three
#          virtio ports and the console written to /dev/null: the same boot, mounts, script,
#          unmounts and power-off.
# Prints a Markdown table with both means, the ratio (target <= 1.2) and whether the imgx step
# took under 4 s (target under TCG). Misses are flagged but do not fail the script.
#
# Needs: cargo, hyperfine, qemu-system-x86_64, dpkg-deb, tar, python3, and the build VM's
# packages (`imgx vm fetch`).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
RUNS=${BENCH_RUNS:-5}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  log "building imgx (release)"
  cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml" -p imgx
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --manifest-path "$ROOT/Cargo.toml" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
IMGX=${IMGX:-$TARGET_DIR/release/imgx}
[ -x "$IMGX" ] || die "no imgx binary at $IMGX"

WORK=${BENCH_DIR:-$(mktemp -d /var/tmp/imgx-bench-run.XXXXXX)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"
cd "$WORK"

packages=${IMGX_VM_PACKAGES:-${XDG_CACHE_HOME:-$HOME/.cache}/imgx/vm}
busybox_deb=$(ls "$packages"/busybox-static_*.deb 2>/dev/null | head -n 1)
[ -n "$busybox_deb" ] || die "no busybox-static package in $packages: run \`imgx vm fetch\`"

log "preparing a base disk with a busybox userland"
rm -rf tree bb && dpkg-deb -x "$busybox_deb" bb
mkdir -p tree/bin tree/etc
cp bb/bin/busybox tree/bin/busybox
for applet in $(tree/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "tree/bin/$applet"
done
cat >run.nix <<'NIX'
let
  imgx = import <imgx>;
  base = builtins.step {
    kind = "disk"; name = "base"; size = "256M"; table = "gpt";
    partitions = [
      { label = "ESP"; type = "esp"; size = "32M"; fs = "vfat"; mount = "/boot/efi"; }
      { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = ./tree; mount = "/"; }
    ];
  };
in {
  inherit base;
  inherit (imgx) vm;
  step = imgx.run { disk = base; name = "true"; script = "true"; };
}
NIX

export IMGX_STORE="$WORK/store"
rm -rf store pristine
"$IMGX" build run.nix -A base --no-out-link --json >base.json
"$IMGX" build run.nix -A vm --no-out-link --json >vm.json
cp -a --sparse=always store pristine
# One untimed build of the step, to check it works and to learn its output.
"$IMGX" build run.nix -A step --no-out-link --json >step.json
output_of() { python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") in ("built", "cached") and e["step"]["name"] == sys.argv[2]:
        print(e["output"])' "$1" "$2"; }
BASE=store/objects/$(output_of base.json base)
VM=store/objects/$(output_of vm.json build-vm)
[ -f "$BASE" ] && [ -f "$VM/kernel" ] || die "the base disk or the VM did not build"
cp --sparse=always "$BASE" base.raw
cp "$VM/kernel" kernel
cp "$VM/initrd" initrd

# The job imgx writes for this step (see builders/src/run/job.rs).
mkdir -p job
printf "IMGX_DATE='1980-01-01 00:00:00'\nIMGX_EPOCH=315532800\nIMGX_NETWORK=0\nIMGX_FILESYSTEMS='ext4 vfat'\nIMGX_WORKDIR=/tmp/imgx-workdir\nIMGX_SHELL=image\n" >job/env
printf 'set -e\ncd "$IMGX_ROOT/"\ntrue\n' >job/script
tar --owner=0 --group=0 --mtime=@315532800 -C job -cf job.tar env script

ACCEL=${IMGX_ACCEL:-$(sed -n 2p "${XDG_CACHE_HOME:-$HOME/.cache}/imgx/kvm-probe" 2>/dev/null | cut -f1)}
ACCEL=${ACCEL:-tcg}
cat >bare.sh <<EOF
exec qemu-system-x86_64 -accel $ACCEL -nodefaults -no-user-config -display none -no-reboot -m 1024 -smp 1 \\
  -kernel kernel -initrd initrd \\
  -append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init acpi=off 8250.nr_uarts=1 tsc=reliable no_timer_check mitigations=off" \\
  -rtc base=1980-01-01T00:00:00,clock=vm \\
  -drive file=disk.raw,format=raw,if=virtio,cache=unsafe -drive file=job.tar,format=raw,if=virtio,readonly=on \\
  -device virtio-serial-pci \\
  -chardev file,id=out,path=/dev/null -device virtserialport,chardev=out,name=imgx.out \\
  -chardev file,id=err,path=/dev/null -device virtserialport,chardev=err,name=imgx.err \\
  -chardev file,id=status,path=status.txt -device virtserialport,chardev=status,name=imgx.status \\
  -chardev file,id=console,path=/dev/null -serial chardev:console -nic none
EOF
cp --sparse=always base.raw disk.raw
bash bare.sh
grep -q "exit 0" status.txt || die "the bare boot did not run the job (status: $(cat status.txt))"

log "timing ($RUNS runs each, accelerator $ACCEL)"
hyperfine --warmup 1 --runs "$RUNS" --export-json times.json \
  --command-name imgx --prepare "rm -rf store && cp -a --sparse=always pristine store" \
  "IMGX_ACCEL=$ACCEL $IMGX build run.nix -A step --no-out-link" \
  --command-name qemu --prepare "cp --sparse=always base.raw disk.raw && rm -f status.txt" \
  "bash bare.sh" >&2

python3 - times.json <<'PY'
import json, sys
results = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
imgx, qemu = results["imgx"], results["qemu"]
ratio = imgx["mean"] / qemu["mean"]
print("| run step `true` | imgx (s) | bare QEMU (s) | imgx / QEMU |")
print("|---|---:|---:|---:|")
flag = "" if ratio <= 1.2 else " MISSED (target 1.2)"
print(f"| mean ± σ | {imgx['mean']:.2f} ± {imgx['stddev']:.2f} | {qemu['mean']:.2f} ± {qemu['stddev']:.2f} | {ratio:.2f}{flag} |")
under = "yes" if imgx["mean"] < 4 else "no (target: under 4 s)"
cpu = imgx["user"] + imgx["system"]
print(f"\nimgx step under 4 s: {under}; CPU time of the imgx runs (user + system): {cpu:.2f} s")
PY
