#!/usr/bin/env bash
# Write throughput through a running `teleport storage` with and without the index updater (IndexVolumes), measured
# with `qemu-img bench`, and how long the updater takes to re-hash what was written.
# Usage: tests/Teleport.Storage.Tests/bench/index-updater.sh [SIZE_MIB (default 256)] [ROUNDS (default 3)]
# Needs qemu-utils (qemu-img) and the .NET SDK. Uses 127.0.0.1 only.
set -euo pipefail

SIZE_MIB=${1:-256}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
WORK=$(mktemp -d /tmp/teleport-storage-bench.XXXXXX)
QEMU_IMG=${TELEPORT_QEMU_IMG:-$(command -v qemu-img)}
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

echo "building teleport..." >&2
dotnet build -c Release "$ROOT/src/Teleport.Cli" -o "$WORK/bin" >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
mkdir -p "$WORK/volumes"
echo "creating a ${SIZE_MIB} MiB image of random data..." >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/volumes/disk.img"

# Starts the worker (args: port [extra flags]) and waits for its NBD port.
start_worker() {
  local port=$1; shift
  "$WORK/bin/teleport" storage --id bench --volumes "$WORK/volumes" --nbd-listen "127.0.0.1:$port" --data-listen 127.0.0.1:0 \
    --bus memory -v "$@" > "$WORK/out.$port" 2>&1 &
  PID=$!
  wait_port "$port"
}
stop_worker() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=; }

bench() {
  local url=$1 size=$2 count=$3 depth=$4; shift 4
  local best=0
  for _ in $(seq "$ROUNDS"); do
    local out secs bytes rate
    out=$("$QEMU_IMG" bench -f raw -w -d "$depth" -c "$count" -s "$size" "$@" "$url" 2>&1)
    secs=$(sed -n 's/.*Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
    [ -n "$secs" ] || { echo "qemu-img bench failed: $out" >&2; exit 1; }
    bytes=$(numfmt --from=iec "${size^^}")
    rate=$(awk -v b="$bytes" -v c="$count" -v s="$secs" 'BEGIN { printf "%.1f", b * c / s / 1048576 }')
    best=$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$best"
}

C4K=$((SIZE_MIB * 8)); C1M=$((SIZE_MIB / 2))
declare -A RESULT
for mode in plain indexed; do
  port=$(free_port)
  if [ "$mode" = indexed ]; then
    start_worker "$port" --index "$WORK/index"
    # The initial indexing of the volume must be over before measuring.
    for _ in $(seq 600); do grep -q "Indexed 1 volumes" "$WORK/out.$port" && break; sleep 0.1; done
  else
    start_worker "$port"
  fi
  for spec in "4k $C4K 1" "4k $C4K 16" "1M $C1M 16"; do
    set -- $spec
    RESULT["$mode $1 $3"]=$(bench "nbd://127.0.0.1:$port/disk" "$1" "$2" "$3")
  done
  if [ "$mode" = indexed ]; then
    # The updater drains after its debounce (2 s); the last drain's log line shows what it re-hashed.
    sleep 4
    grep -o "Re-indexed [0-9]* written blocks" "$WORK/out.$port" | awk '{ n += $2 } END { print "blocks re-hashed by the updater: " n }'
  fi
  stop_worker
done

printf '%-22s %14s %14s %8s\n' "qemu-img bench -w" "plain MiB/s" "indexed MiB/s" "ratio"
for key in "4k 1" "4k 16" "1M 16"; do
  p=${RESULT["plain $key"]}; i=${RESULT["indexed $key"]}
  printf '%-22s %14s %14s %8s\n' "write ${key% *} depth ${key#* }" "$p" "$i" "$(awk -v a="$i" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"
done
