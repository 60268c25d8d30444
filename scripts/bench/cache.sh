#!/usr/bin/env bash
# Binary cache benchmarks: `imgx push` and substitution against a real nginx (WebDAV) on 127.0.0.1.
#
# Usage:  scripts/bench/cache.sh            (run from any directory)
#
# Environment:
#   BENCH_RUNS=N         timed runs of each case; the best is reported (default 3)
#   BENCH_SIZE_GIB=N     apparent size of the sparse image (default 4)
#   BENCH_DATA_MIB=N     data in it, in 16 MiB extents spread over the image, half random and
#                        half text (default 1024)
#   BENCH_EXAMPLE=FILE   the description for case 2 (default examples/hello.nix, the main
#                        example: a bootable system, run steps and a boot test)
#   BENCH_DIR=DIR        where everything goes (default: a fresh directory under /var/tmp,
#                        removed at the end); needs about BENCH_DATA_MIB x 6 of free space
#   BENCH_NO_BUILD=1     skip `cargo build --release` (use the existing binary)
#   BENCH_CASES="..."    which cases to run: "image", "example" or both (the default)
#
# Cases, in one run, with ratios printed:
#   1. a sparse image (BENCH_SIZE_GIB GiB holding BENCH_DATA_MIB MiB of data) pushed with
#      `imgx push`, then substituted into an empty store by `imgx build`, against
#      `zstd -T0 -c IMAGE | curl -T - URL` and `curl URL | zstd -d -o IMAGE` on the same nginx.
#      Target: imgx at least as fast both ways. Check: the substituted image has the same hash.
#   2. a build of BENCH_EXAMPLE substituted from the cache against a local build, each into a
#      store where only its evaluation is cached. Target: substitution at least 5x faster.
# A missed target is flagged MISSED but does not fail the script.
#
# Needs: cargo, nginx, zstd, curl, b3sum is not needed. Timings are warm-cache.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)
RUNS=${BENCH_RUNS:-3}
SIZE_GIB=${BENCH_SIZE_GIB:-4}
DATA_MIB=${BENCH_DATA_MIB:-1024}
EXAMPLE=$(realpath -- "${BENCH_EXAMPLE:-$ROOT/examples/hello.nix}")
EXTENT_MIB=16
CASES=" ${BENCH_CASES:-image example} "

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'cache.sh: error: %s\n' "$*" >&2; exit 1; }

for v in RUNS SIZE_GIB DATA_MIB; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
for tool in nginx zstd curl cargo; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool is missing (scripts/deps --test)"
done
for case in $CASES; do
    [[ $case == image || $case == example ]] || die "BENCH_CASES: unknown case '$case' (image, example)"
done
EXTENTS=$((DATA_MIB / EXTENT_MIB))
[[ $EXTENTS -ge 1 ]] || die "BENCH_DATA_MIB must be at least $EXTENT_MIB"
SLOT_MIB=$((SIZE_GIB * 1024 / EXTENTS))
[[ $SLOT_MIB -ge $EXTENT_MIB ]] || die "the data must fit in the image"

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
fi
IMGX=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/imgx
[[ -x $IMGX ]] || die "no release binary at $IMGX"

if [[ -n ${BENCH_DIR:-} ]]; then
    DIR=$BENCH_DIR
    mkdir -p "$DIR"
else
    DIR=$(mktemp -d /var/tmp/imgx-cache-bench.XXXXXX)
fi
NGINX_PID=
cleanup() {
    [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null || true
    if [[ -z ${BENCH_DIR:-} ]]; then chmod -R u+w "$DIR" 2>/dev/null || true; rm -rf "$DIR"; fi
}
trap cleanup EXIT

# --- nginx with WebDAV --------------------------------------------------------------------------

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/nginx/tmp" "$DIR/www"
USER_LINE=""
[[ $(id -u) -eq 0 ]] && USER_LINE="user root;"
cat >"$DIR/nginx/nginx.conf" <<CONF
$USER_LINE
daemon off;
master_process off;
worker_processes 1;
error_log $DIR/nginx/error.log;
pid $DIR/nginx/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $DIR/nginx/tmp/body;
  proxy_temp_path $DIR/nginx/tmp/proxy;
  fastcgi_temp_path $DIR/nginx/tmp/fastcgi;
  uwsgi_temp_path $DIR/nginx/tmp/uwsgi;
  scgi_temp_path $DIR/nginx/tmp/scgi;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT;
    root $DIR/www;
    location / { dav_methods PUT DELETE MKCOL; create_full_put_path on; client_max_body_size 0; }
  }
}
CONF
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx" &
NGINX_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT"

# best_of CMD...: runs a command RUNS times (after its PREPARE function, if set) and prints the
# best wall time in seconds.
best_of() {
    local best="" start end t
    for _ in $(seq "$RUNS"); do
        if declare -F prepare >/dev/null; then prepare; fi
        start=$(date +%s.%N)
        "$@" >/dev/null 2>"$DIR/last.err" || { cat "$DIR/last.err" >&2; die "failed: $*"; }
        end=$(date +%s.%N)
        t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
        if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
    done
    echo "$best"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "ok" : "MISSED") }'; }

cd "$DIR"
"$IMGX" key generate bench-1 >/dev/null
KEY=(--substituter "$URL/cache" --trusted-key "$DIR/bench-1.public")

# --- 1. a sparse image --------------------------------------------------------------------------

if [[ $CASES == *" image "* ]]; then

log "writing a ${SIZE_GIB} GiB image with ${DATA_MIB} MiB of data"
truncate -s "${SIZE_GIB}G" image.img
# `head` closes the pipes before base64 and urandom are done: no pipefail here.
set +o pipefail
for i in $(seq 0 $((EXTENTS - 1))); do
    if ((i % 2)); then
        head -c "${EXTENT_MIB}M" /dev/urandom
    else
        head -c "$((EXTENT_MIB * 3 / 4))M" /dev/urandom | base64 -w 76 | head -c "${EXTENT_MIB}M"
    fi | dd of=image.img bs=1M seek=$((i * SLOT_MIB)) conv=notrunc status=none
done
set -o pipefail
cat >image.nix <<'NIX'
# An executable copy, so that the step's output is not the imported object itself.
(import <imgx>).file { name = "image.img"; source = ./image.img; executable = true; }
NIX
export IMGX_STORE=$DIR/store-pushed
log "building the image step"
"$IMGX" build --no-out-link image.nix >/dev/null

push_cache() { rm -rf "$DIR/www/cache"; }
prepare() { push_cache; }
PUSH=$(best_of "$IMGX" push "$URL/cache" image.nix --key bench-1.secret)
log "imgx push: $PUSH s"

prepare() {
    rm -rf "$DIR/store-pull"
    IMGX_STORE=$DIR/store-pull "$IMGX" build --dry-run image.nix >/dev/null
}
PULL=$(IMGX_STORE=$DIR/store-pull best_of "$IMGX" build --no-out-link image.nix "${KEY[@]}")
log "imgx build (substituted): $PULL s"
A=$(IMGX_STORE=$DIR/store-pushed "$IMGX" build --no-out-link image.nix)
B=$(IMGX_STORE=$DIR/store-pull "$IMGX" build --no-out-link image.nix)
[[ $(basename "$A") == $(basename "$B") ]] || die "the substituted image has another hash"

prepare() { curl -s -X DELETE "$URL/plain.img.zst" >/dev/null || true; }
CURL_PUSH=$(best_of sh -c "zstd -q -T0 -c image.img | curl -sf -T - '$URL/plain.img.zst'")
log "zstd -T0 | curl -T: $CURL_PUSH s"
prepare() { rm -f "$DIR/plain.img"; }
CURL_PULL=$(best_of sh -c "curl -sf '$URL/plain.img.zst' | zstd -q -d -o '$DIR/plain.img'")
log "curl | zstd -d: $CURL_PULL s"
unset -f prepare
fi

# --- 2. a substituted build against a local one ---------------------------------------------------

if [[ $CASES == *" example "* ]]; then

log "pushing $(basename "$EXAMPLE")"
IMGX_STORE=$DIR/store-pushed "$IMGX" build --no-out-link "$EXAMPLE" >/dev/null
IMGX_STORE=$DIR/store-pushed "$IMGX" push "$URL/cache" "$EXAMPLE" --key bench-1.secret 2>/dev/null
rm -rf "$DIR/store-evaluated"
IMGX_STORE=$DIR/store-evaluated "$IMGX" build --dry-run "$EXAMPLE" >/dev/null
prepare() { rm -rf "$DIR/store-run"; cp -a "$DIR/store-evaluated" "$DIR/store-run"; }
LOCAL=$(IMGX_STORE=$DIR/store-run best_of "$IMGX" build --no-out-link "$EXAMPLE")
SUBST=$(IMGX_STORE=$DIR/store-run best_of "$IMGX" build --no-out-link "$EXAMPLE" "${KEY[@]}")
unset -f prepare
fi

# --- results ------------------------------------------------------------------------------------

printf '\n%-58s %8s %8s %7s\n' "case (best of $RUNS)" "imgx s" "other s" "ratio"
if [[ $CASES == *" image "* ]]; then
    R_PUSH=$(ratio "$CURL_PUSH" "$PUSH")
    R_PULL=$(ratio "$CURL_PULL" "$PULL")
    printf '%-58s %8s %8s %7s  %s\n' "push ${SIZE_GIB} GiB / ${DATA_MIB} MiB data vs zstd -T0 | curl -T" "$PUSH" "$CURL_PUSH" "$R_PUSH" "$(verdict "$R_PUSH" 1)"
    printf '%-58s %8s %8s %7s  %s\n' "substitute it vs curl | zstd -d" "$PULL" "$CURL_PULL" "$R_PULL" "$(verdict "$R_PULL" 1)"
fi
if [[ $CASES == *" example "* ]]; then
    R_BUILD=$(ratio "$LOCAL" "$SUBST")
    printf '%-58s %8s %8s %7s  %s\n' "$(basename "$EXAMPLE"): substituted vs local build" "$SUBST" "$LOCAL" "$R_BUILD" "$(verdict "$R_BUILD" 5)"
fi
echo "(ratio = other / imgx; targets: >= 1, >= 1, >= 5)"
