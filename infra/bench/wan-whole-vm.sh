#!/usr/bin/env bash
# Whole-VM benchmark over the emulated WAN (issue 14, "How it is shown"; `wan-live.sh --whole-vm` runs this): the
# QEMU test guest, writing one numbered record at a time, moves with its memory and disk from a QEMU process in the
# source namespace to one in the destination namespace (infra/wan/link.sh, default 100 Mbit/s and 25 ms each way).
#
#   qemu      the anchor a user tries first, what `virsh migrate --live --copy-storage-all` does: the destination
#             QEMU (-S, -incoming defer, its disk a copy of the related base image) exports its disk over NBD, the
#             source mirrors the whole disk into it (blockdev-mirror sync=full), then QEMU's memory migration, then
#             the ready mirror is cancelled in sync and the destination continues (infra/bench/qemu-anchor.py).
#
#   teleport  Teleport's whole-VM move (`teleport migrate --to-host`): RabbitMQ, the orchestrator, storage src and
#             host hv1 (running the source QEMU, its definition in a file) in the source namespace; storage dst (its
#             content index built over base.img) and host hv2 (which starts the incoming QEMU) in the destination's.
#
# Per run: total time, the downtime the guest saw (its longest gap between two records, over both consoles, with the
# record that ended it) and the part of it across the switch (the source's last record to the destination's first),
# QEMU's own downtime, bytes on the link (both directions) split into memory (QEMU's ram.transferred) and the rest
# (disk and control), whether the guest continued (its record sequence goes on in the destination QEMU from the
# last one the source printed; it did not reboot), and every record it wrote checked on the destination disk.
#
# The volume: VOLUME_MIB of incompressible data (a stand-in for an OS image: base.img) with --changed-pct of its
# 64 KiB chunks rewritten; the destination holds base.img.
#
# Modes: writing (the default: records at a steady rate); storm (the same, and the guest rewrites --dirty-mib MiB of
# random bytes in its memory over and over, far faster than the link carries them, so QEMU's memory pre-copy never
# converges: Teleport goes post-copy, issue 19 item 6; Teleport only, the anchor would never finish; default migrate
# options without multifd, which post-copy excludes, and the memory capped at the link's rate).
#
# usage: wan-whole-vm.sh [--runs N] [--volume-mib M] [--changed-pct P] [--name NAME] [--rate 100mbit]
#                        [--delay 25ms] [--out FILE.md] [--teleport DLL] [--only qemu|teleport]
#                        [--mode writing|storm] [--dirty-mib 64] [--migrate-timeout 900]
#                        [--migrate-args "ARGS"]   Teleport's `teleport migrate` options (default: "--multifd --fenced --size
#                                                  VOLUME_MIBm --bandwidth 2xRATE --memory-downtime-limit 100", QEMU's
#                                                  memory over zstd multifd channels capped at twice the link's rate as
#                                                  QEMU counts it, before compression, and the fenced cut-over; "" runs
#                                                  migrate's own defaults)
#                        [--notsent-lowat BYTES]   net.ipv4.tcp_notsent_lowat in both namespaces, for both methods (an
#                                                  operator's sysctl: it bounds the unsent data each socket queues, QEMU's
#                                                  migration sockets included, so less is left to drain at switchover)
# Needs root. The link, every process and the temp directory are removed on exit (the directory with the logs
# stays after a failure, or always with TELEPORT_BENCH_KEEP=1).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
WAN=$ROOT/infra/wan
TELEPORT_ROOT=$ROOT TELEPORT_LOG_TAG='wan-whole-vm'
# shellcheck source=infra/lib.sh
source infra/lib.sh

RUNS=1 VOLUME_MIB=64 CHANGED_PCT=10 NAME=wv RATE=100mbit DELAY=25ms OUT='' DLL='' ONLY='' MIGRATE_ARGS=- NOTSENT_LOWAT=''
MODE=writing DIRTY_MIB=64 MIGRATE_TIMEOUT=900
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --volume-mib) VOLUME_MIB=${2:?}; shift 2 ;;
        --changed-pct) CHANGED_PCT=${2:?}; shift 2 ;;
        --name) NAME=${2:?}; shift 2 ;;
        --rate) RATE=${2:?}; shift 2 ;;
        --delay) DELAY=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        --teleport) DLL=${2:?}; shift 2 ;;
        --only) ONLY=${2:?}; shift 2 ;;
        --migrate-args) MIGRATE_ARGS=${2?}; shift 2 ;;
        --notsent-lowat) NOTSENT_LOWAT=${2:?}; shift 2 ;;
        --mode) MODE=${2:?}; shift 2 ;;
        --dirty-mib) DIRTY_MIB=${2:?}; shift 2 ;;
        --migrate-timeout) MIGRATE_TIMEOUT=${2:?}; shift 2 ;;
        --whole-vm) shift ;;
        -h | --help) print_usage "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "wan-whole-vm.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || { echo "wan-whole-vm.sh: --runs must be 1-99" >&2; exit 2; }
[[ $VOLUME_MIB =~ ^[1-9][0-9]{0,4}$ ]] || { echo "wan-whole-vm.sh: --volume-mib must be a whole number" >&2; exit 2; }
[[ $CHANGED_PCT =~ ^([0-9]|[1-9][0-9]|100)$ ]] || { echo "wan-whole-vm.sh: --changed-pct must be 0-100" >&2; exit 2; }
[[ $ONLY =~ ^(|qemu|teleport)$ ]] || { echo "wan-whole-vm.sh: --only must be qemu or teleport" >&2; exit 2; }
[[ $NOTSENT_LOWAT =~ ^([1-9][0-9]{3,9})?$ ]] || { echo "wan-whole-vm.sh: --notsent-lowat must be a byte count of 1000 or more" >&2; exit 2; }
[[ $MODE =~ ^(writing|storm)$ ]] || { echo "wan-whole-vm.sh: --mode must be writing or storm" >&2; exit 2; }
[[ $DIRTY_MIB =~ ^[1-9][0-9]{0,2}$ ]] || { echo "wan-whole-vm.sh: --dirty-mib must be 1-999" >&2; exit 2; }
[[ $MIGRATE_TIMEOUT =~ ^[1-9][0-9]{1,4}$ ]] || { echo "wan-whole-vm.sh: --migrate-timeout must be 10-99999 seconds" >&2; exit 2; }
GUEST_DIRTY=0
if [[ $MODE == storm ]]; then
    [[ $ONLY != qemu ]] || { echo "wan-whole-vm.sh: --mode storm runs Teleport only" >&2; exit 2; }
    ONLY=teleport GUEST_DIRTY=$DIRTY_MIB
    [[ $MIGRATE_ARGS != - ]] || MIGRATE_ARGS="--fenced --size ${VOLUME_MIB}m --bandwidth $RATE --memory-downtime-limit 100"
fi
if [[ $MIGRATE_ARGS == - ]]; then
    MIGRATE_ARGS="--multifd --fenced --size ${VOLUME_MIB}m"
    # QEMU 7.2 counts multifd's pages against max-bandwidth before zstd (the guest's memory compresses ~2.3x here):
    # twice the link's rate keeps what QEMU queues in its sockets and the link short, so the stop-and-copy does not
    # wait behind a backlog (docs/performance.md, issue 14).
    [[ ! $RATE =~ ^([1-9][0-9]*)mbit$ ]] || MIGRATE_ARGS+=" --bandwidth $((2 * BASH_REMATCH[1]))mbit --memory-downtime-limit 100"
fi
((EUID == 0)) || { echo "wan-whole-vm.sh: needs root (network namespaces)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/teleport-wan-whole-vm.XXXXXX)
PIDS=()
LINK_UP=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do timeout 10 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
    [[ -z $LINK_UP ]] || WAN_NAME=$NAME "$WAN/link.sh" down --name "$NAME" >&2 || true
    if ((rc != 0)) || [[ -n ${TELEPORT_BENCH_KEEP:-} ]]; then log "logs kept in $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in qemu-system-x86_64 gcc jq ip python3; do command -v "$tool" >/dev/null || die "$tool is missing (infra/test.sh installs it)"; done
GUEST_DIR=${TELEPORT_CACHE:-$HOME/.cache/teleport}/workload-guest
guest_env=$(bash infra/guest/workload/build-guest.sh "$GUEST_DIR") || die "infra/guest/workload/build-guest.sh failed"
eval "${guest_env//$'\n'/ ; }"
[[ -f ${TELEPORT_GUEST_KERNEL:-} && -f ${TELEPORT_GUEST_INITRD:-} ]] || die "guest kernel/initrd not built: $guest_env"
gcc -O2 -Wall -Wextra -Werror -o "$WORK/check" infra/bench/record-check.c || die "could not build the record checker"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

# ---- the volume and its related base image ------------------------------------------------------------------------

log "generating base.img (${VOLUME_MIB} MiB) and the volume (${CHANGED_PCT}% of its 64 KiB chunks rewritten)"
head -c "$((VOLUME_MIB << 20))" /dev/urandom >"$WORK/base.img"
cp "$WORK/base.img" "$WORK/volume.img"
python3 - "$WORK/volume.img" "$CHANGED_PCT" <<'EOF'
import os, random, sys
path, pct = sys.argv[1], int(sys.argv[2])
chunk = 65536
chunks = os.path.getsize(path) // chunk
rng = random.Random(14)
with open(path, "r+b") as f:
    for i in rng.sample(range(chunks), chunks * pct // 100):
        f.seek(i * chunk)
        f.write(os.urandom(chunk))
EOF

# ---- the link ----------------------------------------------------------------------------------------------------

export WAN_NAME=$NAME
LINK_UP=1
eval "$("$WAN/link.sh" up --name "$NAME" --rate "$RATE" --delay "$DELAY")"
eval "$("$WAN/link.sh" check --name "$NAME" 2>&1 | tee -a "$WORK/link-check.txt" | grep '^WAN_CHECK_' || true)"
log "link: rtt ${WAN_CHECK_RTT_AVG_MS:-?} ms, ${WAN_CHECK_S2D_MBIT:-?} / ${WAN_CHECK_D2S_MBIT:-?} Mbit/s"
# shellcheck disable=SC2034  # used by name (start_guest SRC|DST)
SRC=(ip netns exec "$WAN_SRC_NS")
# shellcheck disable=SC2034  # used by name (start_guest SRC|DST)
DST=(ip netns exec "$WAN_DST_NS")
if [[ -n $NOTSENT_LOWAT ]]; then
    "${SRC[@]}" sysctl -qw "net.ipv4.tcp_notsent_lowat=$NOTSENT_LOWAT" || die "could not set net.ipv4.tcp_notsent_lowat in $WAN_SRC_NS"
    "${DST[@]}" sysctl -qw "net.ipv4.tcp_notsent_lowat=$NOTSENT_LOWAT" || die "could not set net.ipv4.tcp_notsent_lowat in $WAN_DST_NS"
    log "net.ipv4.tcp_notsent_lowat=$NOTSENT_LOWAT in both namespaces"
fi

# ---- the guest ---------------------------------------------------------------------------------------------------

# One record every 20 ms at most (TCG is slower), each on the console, for longer than a run (the volume's size in
# records: ~3 minutes per 32 MiB); then it stays idle.
# no_timer_check: on a loaded host TCG's timer is late enough for the kernel's IO-APIC timer check to panic.
# -m 262136k (256 MiB less 8 KiB): QEMU 7.2 under TCG loses guest stores during a memory migration when the RAM's size
# is a multiple of 256 KiB (fixed in QEMU 9.0); see docs/host.md.
COUNT=$(((VOLUME_MIB << 20) / 4096)) DELAY_US=20000

# Each console line gets the wall-clock time it arrived, so the gap across the move is measured in one clock.
stamp() { local line; while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }

# start_guest NS-ARRAY-NAME DISK QMP CONSOLE RUNID [EXTRA QEMU ARGS...]: same machine and devices on both sides.
start_guest() {
    local -n ns=$1
    local disk=$2 qmp=$3 console=$4 runid=$5
    shift 5
    "${ns[@]}" qemu-system-x86_64 -machine q35 -m 262136k -smp 1 -nodefaults -nographic -no-reboot -serial stdio \
        -accel tcg -cpu max -kernel "$TELEPORT_GUEST_KERNEL" -initrd "$TELEPORT_GUEST_INITRD" \
        -append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count=$COUNT guest.every=1 guest.run=$runid guest.delay=$DELAY_US guest.hold=3600 guest.dirty=$GUEST_DIRTY" \
        -blockdev "driver=file,filename=$disk,node-name=file0,cache.direct=off" -blockdev "driver=raw,file=file0,node-name=disk0" \
        -device virtio-blk-pci,drive=disk0,id=vda -qmp "unix:$qmp,server=on,wait=off" "$@" \
        </dev/null > >(stamp >"$console") 2>&1 &
    PIDS+=($!)
}

link_bytes() { "$WAN/link.sh" counters --name "$NAME" | awk -F= '/^WAN_(S2D|D2S)_BYTES=/ { n += $2 } END { print n }'; }

ROWS=()
FAILED=0
run_qemu() {
    local r=$1
    local d=$WORK/qemu$r pids_before=${#PIDS[@]} runid=$((2000 + r))
    mkdir -p "$d"
    cp "$WORK/volume.img" "$d/src.img"
    cp "$WORK/base.img" "$d/dst.img"
    start_guest DST "$d/dst.img" "$d/dst.qmp" "$d/dst-console.log" "$runid" -S -incoming defer
    local dst_qemu=${PIDS[-1]}
    start_guest SRC "$d/src.img" "$d/src.qmp" "$d/src-console.log" "$runid"
    local src_qemu=${PIDS[-1]}
    wait_for "the guest's first records" 180 grep -qs "TPW seq=20" "$d/src-console.log" || exit 1
    wait_for "the destination's QMP socket" 30 test -S "$d/dst.qmp" || exit 1
    log "qemu run $r: guest writing; mirroring the disk, then migrating memory"

    local before after json rc=0
    before=$(link_bytes)
    json=$(python3 infra/bench/qemu-anchor.py --src-qmp "$d/src.qmp" --dst-qmp "$d/dst.qmp" --dst-ip "$WAN_DST_IP" \
        --nbd-port 10809 --migrate-port 4444 2>"$d/anchor.log") || rc=$?
    after=$(link_bytes)
    if ((rc != 0)); then
        ROWS+=("| qemu | $r | **failed: $(tr '\n' ' ' <"$d/anchor.log")** | | | | | | | | |")
        FAILED=1
    else
        # The guest goes on writing in the destination QEMU for a moment, then both QEMUs stop (the source is paused).
        local last
        last=$(grep -o 'TPW seq=[0-9]*' "$d/src-console.log" | tail -n1 | cut -d= -f2)
        wait_for "records from the destination QEMU" 60 grep -qs "TPW seq=$((last + 50))" "$d/dst-console.log" || true
        row_of qemu "$r" "$d" "$json" "$((after - before))" "$dst_qemu" "$src_qemu" "$d/dst.img" "$runid"
    fi
    stop_pids_since PIDS "$pids_before"
}

# row_of METHOD RUN DIR JSON LINK-BYTES DST-QEMU SRC-QEMU DST-DISK RUNID: stops the guest, checks it, adds the row.
row_of() {
    local method=$1 r=$2 d=$3 json=$4 link=$5 dst_qemu=$6 src_qemu=$7 disk=$8 runid=$9
    kill -TERM "$dst_qemu" "$src_qemu" 2>/dev/null || true
    timeout 20 tail --pid="$dst_qemu" -f /dev/null 2>/dev/null || kill -KILL "$dst_qemu" 2>/dev/null || true
    local console upto check memory
    console=$(python3 infra/bench/guest-console.py "$d/src-console.log" "$d/dst-console.log")
    echo "$console" >"$d/console.json"
    upto=$(jq -r '.lastSeq // empty' <<<"$console")
    [[ -n $upto ]] || die "$method run $r: the guest reported no record"
    local res
    if res=$("$WORK/check" "$disk" "$((upto + 1))" "$runid"); then
        check="records 0-$upto intact"
    else
        check="**$(cut -d' ' -f1 <<<"$res") of $((upto + 1)) records wrong** (first: $(cut -d' ' -f2 <<<"$res"))"
        FAILED=1
    fi
    [[ $(jq -r .continued <<<"$console") == true ]] || FAILED=1
    memory=$(jq -r '.memoryBytes' <<<"$json")
    # QEMU counts memory before multifd's compression; Teleport's JSON has the disk's own bytes on the data
    # channel, so its memory on the link is the rest (broker traffic included).
    local disk_wire memory_cell rest_cell
    disk_wire=$(jq -r '.diskBytes // empty' <<<"$json")
    if [[ -n $disk_wire ]]; then
        memory_cell="$(mb "$memory") sent, $(mb $((link - disk_wire))) on the link"
        rest_cell="$(mb "$disk_wire") disk"
    else
        memory_cell=$(mb "$memory")
        rest_cell=$(mb $((link - memory)))
    fi
    log "$method run $r: $json; guest $console; link $link bytes; $check"
    ROWS+=("| $method | $r | $(jq -r .seconds <<<"$json") s | $(jq -r '"\(.longestGapMs) ms (record \(.longestGapSeq))"' <<<"$console") | $(jq -r .switchGapMs <<<"$console") ms | $(jq -r '.qemuDowntimeMs // "?"' <<<"$json") ms | $(mb "$link") | $memory_cell | $rest_cell | $(jq -r '"\(.lastSourceSeq) → \(.firstDestinationSeq): \(.continued)"' <<<"$console") | $check |")
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }

# shellcheck source=infra/bench/wan-whole-vm-teleport.sh
[[ $ONLY == qemu ]] || source infra/bench/wan-whole-vm-teleport.sh

START=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((r = 1; r <= RUNS; r++)); do
    [[ $ONLY == teleport ]] || run_qemu "$r"
    [[ $ONLY == qemu ]] || run_teleport "$r"
done

{
    echo "Whole-VM moves over the emulated WAN ($RATE, $DELAY each way; link check: rtt ${WAN_CHECK_RTT_AVG_MS:-?} ms," \
        "${WAN_CHECK_S2D_MBIT:-?} / ${WAN_CHECK_D2S_MBIT:-?} Mbit/s), ${VOLUME_MIB} MiB volume (${CHANGED_PCT}% changed from" \
        "the destination's base image), 256 MiB guest writing a record every ${DELAY_US} µs or slower" \
        "$([[ $MODE == storm ]] && echo "and rewriting $DIRTY_MIB MiB of its memory in a loop (storm)"); $START; commit $COMMIT;" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg); teleport migrate ${MIGRATE_ARGS:-(default options)}; anchor: mirror copy-mode write-blocking;" \
        "tcp_notsent_lowat ${NOTSENT_LOWAT:-kernel default}."
    echo
    echo "| method | run | total | downtime the guest saw (longest gap) | of it the switch (source's last record → destination's first) | QEMU's downtime | bytes on the link | memory | disk and control | guest's records: source's last → destination's first: continued | destination disk |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
} | tee "${OUT:-/dev/null}"
exit "$FAILED"
