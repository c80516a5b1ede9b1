#!/usr/bin/env bash
# NBD read/write throughput: our server vs qemu-nbd serving the same file, measured with `qemu-img bench`,
# plus our server's write throughput with and without dirty tracking.
# Usage: tests/Teleport.Nbd.Tests/bench/run.sh [SIZE_MIB (default 1024)] [ROUNDS (default 3)]
# Needs qemu-utils (qemu-img, qemu-nbd) and the .NET SDK. Uses 127.0.0.1 only.
set -euo pipefail

SIZE_MIB=${1:-1024}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/teleport-nbd-bench.XXXXXX)
QEMU_IMG=${TELEPORT_QEMU_IMG:-$(command -v qemu-img)}
QEMU_NBD=${TELEPORT_QEMU_NBD:-$(command -v qemu-nbd)}
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

echo "building the benchmark server..." >&2
dotnet build -c Release "$HERE/NbdBenchServer" -o "$WORK/bin" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }

echo "creating a ${SIZE_MIB} MiB image of random data..." >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$WORK/disk.img"

# Starts our server (args: port [--dirty]); it runs until SIGTERM.
start_ours() {
  local port=$1; shift
  "$WORK/bin/NbdBenchServer" "$WORK/disk.img" "$port" disk "$@" > "$WORK/out.$port" &
  local pid=$!
  PIDS+=("$pid")
  eval "PID_$port=$pid"
  wait_port "$port"
}
stop_ours() {
  local port=$1 pid; eval "pid=\$PID_$port"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
}

# Best of ROUNDS runs of qemu-img bench; prints MiB/s. Args: url size count depth [extra bench args]
bench() {
  local url=$1 size=$2 count=$3 depth=$4; shift 4
  local best=0
  for _ in $(seq "$ROUNDS"); do
    local out secs bytes rate
    out=$("$QEMU_IMG" bench -f raw -d "$depth" -c "$count" -s "$size" "$@" "$url" 2>&1)
    secs=$(sed -n 's/.*Run completed in \([0-9.]*\) seconds.*/\1/p' <<<"$out")
    [ -n "$secs" ] || { echo "qemu-img bench failed: $out" >&2; exit 1; }
    bytes=$(numfmt --from=iec "${size^^}")
    rate=$(awk -v b="$bytes" -v c="$count" -v s="$secs" 'BEGIN { printf "%.1f", b * c / s / 1048576 }')
    best=$(awk -v a="$best" -v b="$rate" 'BEGIN { print (b > a) ? b : a }')
  done
  echo "$best"
}

row() { printf '%-30s %14s %14s %8s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

OURS=$(free_port); start_ours "$OURS"
QEMU=$(free_port)
"$QEMU_NBD" -f raw -x disk -b 127.0.0.1 -p "$QEMU" -t --shared=4 "$WORK/disk.img" 2>"$WORK/qemu-nbd.log" & PIDS+=($!)
wait_port "$QEMU"

# Request counts: 1/16 of the image in 4 KiB requests, the whole image in 1 MiB requests.
C4K=$((SIZE_MIB * 16)); C1M=$((SIZE_MIB))
row "qemu-img bench" "teleport MiB/s" "qemu-nbd MiB/s" "ratio"
for mode in read write; do
  flag=""; [ "$mode" = write ] && flag="-w"
  for depth in 1 16; do
    for spec in "4k $C4K" "1M $C1M"; do
      set -- $spec
      ours=$(bench "nbd://127.0.0.1:$OURS/disk" "$1" "$2" "$depth" $flag)
      theirs=$(bench "nbd://127.0.0.1:$QEMU/disk" "$1" "$2" "$depth" $flag)
      row "$mode $1 depth $depth" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
    done
  done
done
stop_ours "$OURS"

# Allocations on the server's hot path: 4 KiB reads and writes, counted by the server process.
ALLOC=$(free_port); start_ours "$ALLOC"
"$QEMU_IMG" bench -f raw -d 16 -c "$C4K" -s 4k "nbd://127.0.0.1:$ALLOC/disk" >/dev/null 2>&1
"$QEMU_IMG" bench -f raw -d 16 -c "$C4K" -s 4k -w "nbd://127.0.0.1:$ALLOC/disk" >/dev/null 2>&1
stop_ours "$ALLOC"
ALLOCATED=$(sed -n 's/allocated bytes: //p' "$WORK/out.$ALLOC")

DIRTY=$(free_port); start_ours "$DIRTY" --dirty
CLEAN=$(free_port); start_ours "$CLEAN"
echo
row "teleport write" "tracked MiB/s" "untracked" "ratio"
for depth in 1 16; do
  for spec in "4k $C4K" "1M $C1M"; do
    set -- $spec
    tracked=$(bench "nbd://127.0.0.1:$DIRTY/disk" "$1" "$2" "$depth" -w)
    untracked=$(bench "nbd://127.0.0.1:$CLEAN/disk" "$1" "$2" "$depth" -w)
    row "write $1 depth $depth" "$tracked" "$untracked" "$(ratio "$tracked" "$untracked")"
  done
done
stop_ours "$DIRTY"
stop_ours "$CLEAN"
echo
echo "dirty blocks reported by the tracked server: $(sed -n 's/dirty blocks: //p' "$WORK/out.$DIRTY") of $((SIZE_MIB * 256))"
echo "server allocations: $ALLOCATED bytes over $((2 * C4K)) requests (4 KiB reads + writes, 2 connections) = $(awk -v a="$ALLOCATED" -v n="$((2 * C4K))" 'BEGIN { printf "%.1f", a / n }') bytes/request"
