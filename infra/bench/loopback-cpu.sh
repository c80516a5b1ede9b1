#!/usr/bin/env bash
# CPU each side of a migration spends, with no link in the way: `teleport receive --index` (an index of BASE) and
# `teleport send` of TARGET on 127.0.0.1, each under `perf stat -e task-clock`. On a shared machine wall times move
# with the load; the CPU seconds move much less, so two builds are compared by these, in alternating runs.
#
# usage: loopback-cpu.sh --teleport DLL --base IMG --target IMG [--runs N] [--port PORT]
# Prints one line per run: receiver and sender CPU seconds, the receiver's own seconds, the copy compared with cmp,
# and the 1-minute load average. Needs perf (linux-perf) and dotnet.
set -Eeuo pipefail
dll='' base='' target='' runs=1 port=7690
while (($#)); do
    case $1 in
    --teleport) dll=${2:?--teleport needs teleport.dll}; shift 2 ;;
    --base) base=${2:?--base needs an image}; shift 2 ;;
    --target) target=${2:?--target needs an image}; shift 2 ;;
    --runs) runs=${2:?--runs needs a count}; shift 2 ;;
    --port) port=${2:?--port needs a port}; shift 2 ;;
    *) echo "loopback-cpu.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -s $dll && -s $base && -s $target ]] || { echo "usage: loopback-cpu.sh --teleport DLL --base IMG --target IMG [--runs N] [--port PORT]" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/teleport-loopback-cpu.XXXXXX")
trap 'rm -rf "$work"' EXIT
size=$(stat -c %s "$target")
head -c 32 /dev/urandom >"$work/secret"
dotnet "$dll" index build --index "$work/index-base" "$base" >"$work/index.log" 2>&1 || { tail -n 20 "$work/index.log" >&2; exit 1; }
cpu_seconds() { awk -F, '/task-clock/ { printf "%.2f", $1 / 1000 }' "$1"; }

for ((run = 1; run <= runs; run++)); do
    rm -rf "$work/index" "$work/out.img" "$work/out.img.teleport-state"
    cp -a "$work/index-base" "$work/index"
    perf stat -x, -e task-clock -o "$work/recv.stat" dotnet "$dll" receive --listen "127.0.0.1:$port" --volume "$work/out.img" \
        --size "$size" --secret-file "$work/secret" --json --index "$work/index" >"$work/recv.json" 2>"$work/recv.log" &
    recv=$!
    for _ in $(seq 100); do
        ss -ltn "sport = :$port" | grep -q LISTEN && break
        sleep 0.1
    done
    perf stat -x, -e task-clock -o "$work/send.stat" dotnet "$dll" send --to "127.0.0.1:$port" --volume "$target" \
        --secret-file "$work/secret" --json >"$work/send.json" 2>"$work/send.log" || { tail -n 20 "$work/send.log" >&2; exit 1; }
    wait "$recv" || { tail -n 20 "$work/recv.log" >&2; exit 1; }
    same=different
    cmp -s "$work/out.img" "$target" && same=cmp-equal
    printf 'run %d: receiver %s s CPU, sender %s s CPU, receiver %s s, %s, load %s\n' "$run" "$(cpu_seconds "$work/recv.stat")" \
        "$(cpu_seconds "$work/send.stat")" "$(python3 -c 'import json, sys; print(round(json.load(open(sys.argv[1]))["seconds"], 2))' "$work/recv.json")" \
        "$same" "$(cut -d' ' -f1 /proc/loadavg)"
    [[ $same == cmp-equal ]] || exit 1
done
