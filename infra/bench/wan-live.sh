#!/usr/bin/env bash
# Live WAN benchmark (issue 8, "the live variant"): the real role processes migrate the disk of a running QEMU
# test guest across the emulated WAN link (infra/wan/link.sh, default 100 Mbit/s and 25 ms each way).
#
#   namespace WAN_NAME-src: RabbitMQ (listening on the source's link address), teleport orchestrator (SQLite),
#                           teleport storage (src), teleport host (one VM), QEMU (TCG) whose disk is the host
#                           worker's path-switcher socket and whose QMP socket is the one given to --vm
#   namespace WAN_NAME-dst: teleport storage (dst), reaching RabbitMQ across the link
#   then, from the source namespace: teleport migrate --wait --json
#
# Per run: total time (migrate --wait), downtime and rounds (its JSON), bytes on the wire (the link's counters,
# both directions, around the migrate command; this includes the control traffic and the guest's own disk I/O
# once it is switched to the destination, during the migrate command), then the guest is stopped and every record
# it reported written is checked on the destination volume (magic, sequence number, run id, payload and FNV-1a;
# a small C checker built here).
#
# Modes: idle (the guest wrote its records and stays up idle), writing (records at a steady rate through the
# migration), storm (records back to back, no pause: the guest dirties blocks faster than the link carries them, so
# the downtime controller decides when, or whether, the pause fits; see docs/saga.md).
# The table has predicted (the controller's) and measured downtime side by side.
#
# usage: wan-live.sh [--runs N] [--mode idle|writing|storm] [--teleport DLL] [--volume-mib M] [--name NAME]
#                    [--rate 100mbit] [--delay 25ms] [--out FILE.md] [--fenced]
#   --fenced         the fenced cut-over (`migrate --fenced --size`): the VM resumes before verification
#        wan-live.sh --whole-vm [wan-whole-vm.sh options]   the guest's memory and disk move (wan-whole-vm.sh)
# Needs root. The link, every process and the temp directory are removed on exit (also on failure or Ctrl-C; the
# directory with every role's log stays after a failure, or always with TELEPORT_BENCH_KEEP=1).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
WAN=$ROOT/infra/wan
TELEPORT_ROOT=$ROOT TELEPORT_LOG_TAG='wan-live'
# shellcheck source=infra/lib.sh
source infra/lib.sh

# A whole-VM move is its own benchmark (two QEMU processes, QEMU's own migration side by side).
for arg in "$@"; do [[ $arg != --whole-vm ]] || exec "$ROOT/infra/bench/wan-whole-vm.sh" "$@"; done

RUNS=1 MODE=writing DLL='' VOLUME_MIB='' NAME=wl RATE='' DELAY=25ms OUT='' FENCED=''
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=${2:?}; shift 2 ;;
        --fenced) FENCED=1; shift ;;
        --mode) MODE=${2:?}; shift 2 ;;
        --teleport) DLL=${2:?}; shift 2 ;;
        --volume-mib) VOLUME_MIB=${2:?}; shift 2 ;;
        --name) NAME=${2:?}; shift 2 ;;
        --rate) RATE=${2:?}; shift 2 ;;
        --delay) DELAY=${2:?}; shift 2 ;;
        --out) OUT=${2:?}; shift 2 ;;
        -h | --help) print_usage "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "wan-live.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || { echo "wan-live.sh: --runs must be 1-99" >&2; exit 2; }
[[ $MODE =~ ^(idle|writing|storm)$ ]] || { echo "wan-live.sh: --mode must be idle, writing or storm" >&2; exit 2; }
# A storm needs room (records back to back fill 64 MiB in seconds under TCG) and a link the guest outpaces surely
# (a TCG guest writes a few MB/s of O_DSYNC records on a loaded machine).
[[ -n $VOLUME_MIB ]] || VOLUME_MIB=$([[ $MODE == storm ]] && echo 256 || echo 64)
[[ -n $RATE ]] || RATE=$([[ $MODE == storm ]] && echo 20mbit || echo 100mbit)
[[ $VOLUME_MIB =~ ^[1-9][0-9]{0,4}$ ]] || { echo "wan-live.sh: --volume-mib must be a whole number" >&2; exit 2; }
((EUID == 0)) || { echo "wan-live.sh: needs root (network namespaces)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/teleport-wan-live.XXXXXX)
PIDS=()
LINK_UP=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$? p i
    trap - EXIT INT TERM
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    # link.sh down also kills whatever is still running inside the two namespaces (the broker's epmd, beam).
    if [[ -n $LINK_UP ]]; then
        WAN_NAME=$NAME "$WAN/link.sh" down --name "$NAME" >&2 || true
    fi
    if ((rc != 0)) || [[ -n ${TELEPORT_BENCH_KEEP:-} ]]; then
        log "logs kept in $WORK"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- prerequisites: teleport, the guest, the checker ---------------------------------------------------------

for tool in qemu-system-x86_64 gcc jq ip; do command -v "$tool" >/dev/null || die "$tool is missing (infra/test.sh installs it)"; done
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is missing (apt-get install rabbitmq-server)"

if [[ -z $DLL ]]; then
    publish_teleport "$WORK/published" "$WORK/build.log"
    DLL=$WORK/published/teleport.dll
fi
[[ -f $DLL ]] || die "no teleport.dll at $DLL"
# A copy, so a rebuild by someone else cannot swap it mid-run.
cp -r "$(dirname "$DLL")" "$WORK/teleport"
TP=("dotnet" "$WORK/teleport/teleport.dll")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain -- src contracts 2>/dev/null | head -c1)

GUEST_DIR=${TELEPORT_CACHE:-$HOME/.cache/teleport}/workload-guest
guest_env=$(bash infra/guest/workload/build-guest.sh "$GUEST_DIR") || die "infra/guest/workload/build-guest.sh failed"
eval "${guest_env//$'\n'/ ; }"
[[ -f ${TELEPORT_GUEST_KERNEL:-} && -f ${TELEPORT_GUEST_INITRD:-} ]] || die "guest kernel/initrd not built: $guest_env"

gcc -O2 -Wall -Wextra -Werror -o "$WORK/check" infra/bench/record-check.c || die "could not build the record checker"

# ---- the link ----------------------------------------------------------------------------------------------------

export WAN_NAME=$NAME
LINK_UP=1
eval "$("$WAN/link.sh" up --name "$NAME" --rate "$RATE" --delay "$DELAY")"
CHECK=$("$WAN/link.sh" check --name "$NAME" 2>&1 | tee -a "$WORK/link-check.txt" | grep '^WAN_CHECK_' || true)
eval "$CHECK"
log "link: rtt ${WAN_CHECK_RTT_AVG_MS:-?} ms, ${WAN_CHECK_S2D_MBIT:-?} / ${WAN_CHECK_D2S_MBIT:-?} Mbit/s"
# Arrays, not functions: a backgrounded function is a subshell whose pid is not the process (ip netns exec
# execs the command, so "$!" is the role process itself and stopping it by pid works).
SRC=(ip netns exec "$WAN_SRC_NS")
DST=(ip netns exec "$WAN_DST_NS")

# shellcheck source=infra/bench/wan-rabbitmq.sh
source infra/bench/wan-rabbitmq.sh

# ---- one run -----------------------------------------------------------------------------------------------------

if [[ $MODE == writing ]]; then
    # Records at a steady rate for longer than the migration (under TCG), then the guest stays up idle.
    COUNT=6000 DELAY_US=1500 EVERY=100
elif [[ $MODE == storm ]]; then
    # Records back to back over most of the volume: new blocks dirtied faster than the link carries them.
    COUNT=$((VOLUME_MIB * 256 * 9 / 10)) DELAY_US=0 EVERY=200
else
    COUNT=64 DELAY_US=0 EVERY=16
fi
((COUNT * 4096 <= VOLUME_MIB * 1048576)) || die "--volume-mib $VOLUME_MIB is too small for $COUNT records"

ROWS=()
DOWNTIMES=()
FAILED=0
run_one() {
    local r=$1
    local d=$WORK/run$r pids_before=${#PIDS[@]}
    mkdir -p "$d/src" "$d/dst" "$d/run"
    truncate -s "${VOLUME_MIB}M" "$d/src/vm1.img"
    local sport=$((10809 + r)) dport=$((11809 + r))

    "${SRC[@]}" "${TP[@]}" orchestrator --db "$d/orchestrator.db" --bus "$BUS" >"$d/orchestrator.log" 2>&1 &
    PIDS+=($!)
    "${SRC[@]}" "${TP[@]}" storage --id src --volumes "$d/src" --nbd-listen "$WAN_SRC_IP:$sport" --nbd-insecure --advertise "$WAN_SRC_IP" \
        --data-listen "$WAN_SRC_IP:0" --bus "$BUS" >"$d/storage-src.log" 2>&1 &
    PIDS+=($!)
    "${DST[@]}" "${TP[@]}" storage --id dst --volumes "$d/dst" --nbd-listen "$WAN_DST_IP:$dport" --nbd-insecure --advertise "$WAN_DST_IP" \
        --data-listen "$WAN_DST_IP:0" --bus "$BUS" >"$d/storage-dst.log" 2>&1 &
    PIDS+=($!)
    wait_for "source NBD port" 60 listening "$WAN_SRC_NS" "$sport" || exit 1
    wait_for "destination NBD port" 60 listening "$WAN_DST_NS" "$dport" || exit 1
    # The switch's target comes from the host's own configuration, never from the command (docs/host.md).
    jq -n --arg dst "$WAN_DST_IP:$dport" '{Host: {Storages: {dst: {Nbd: $dst}}}}' >"$d/hv1.json"
    "${SRC[@]}" "${TP[@]}" host --id hv1 --config "$d/hv1.json" --bus "$BUS" \
        --vm "vm1,qmp=$d/run/vm1.qmp,listen=unix:$d/run/vm1.nbd,storage=src,upstream=$WAN_SRC_IP:$sport,export=vm1" \
        >"$d/host.log" 2>&1 &
    PIDS+=($!)
    wait_for "the path switcher's socket" 60 test -S "$d/run/vm1.nbd" || exit 1

    local runid=$((1000 + r))
    "${SRC[@]}" qemu-system-x86_64 -machine q35 -m 256 -smp 1 -nodefaults -nographic -no-reboot -serial stdio \
        -accel tcg -cpu max -kernel "$TELEPORT_GUEST_KERNEL" -initrd "$TELEPORT_GUEST_INITRD" \
        -append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count=$COUNT guest.every=$EVERY guest.run=$runid guest.delay=$DELAY_US guest.hold=600" \
        -drive "driver=nbd,server.type=unix,server.path=$d/run/vm1.nbd,export=vm1,if=none,id=d0,cache.direct=on" \
        -device virtio-blk-pci,drive=d0 -qmp "unix:$d/run/vm1.qmp,server=on,wait=off" \
        </dev/null >"$d/guest.log" 2>&1 &
    local qemu=$!
    PIDS+=("$qemu")
    if [[ $MODE != idle ]]; then
        wait_for "the guest's first records" 120 grep -qs "TPW seq=" "$d/guest.log" || exit 1
    else
        wait_for "the guest to finish writing" 120 grep -qs "TPW idle" "$d/guest.log" || exit 1
    fi
    log "run $r: guest is $([[ $MODE == idle ]] && echo idle || echo "$MODE"); migrating"

    local before after t0 t1 json rc=0
    before=$("$WAN/link.sh" counters --name "$NAME")
    t0=$(date +%s.%N)
    local fenced=()
    [[ -z $FENCED ]] || fenced=(--fenced --size "${VOLUME_MIB}m")
    json=$("${SRC[@]}" "${TP[@]}" migrate --vm vm1 --volume vm1 --from src --to dst --host hv1 --wait --timeout 600 --json \
        "${fenced[@]}" --bus "$BUS" 2>"$d/migrate.log") || rc=$?
    t1=$(date +%s.%N)
    after=$("$WAN/link.sh" counters --name "$NAME")
    echo "$json" >"$d/migrate.json"
    local seq_at_end
    seq_at_end=$(grep -o 'TPW seq=[0-9]*' "$d/guest.log" | tail -n1 | cut -d= -f2)
    local state downtime predicted rounds tbytes verified_at switched_at
    state=$(jq -r '.state // "?"' <<<"$json" 2>/dev/null || echo "?")
    downtime=$(jq -r '.downtimeMs // "?" | if type == "number" then round else . end' <<<"$json" 2>/dev/null || echo "?")
    predicted=$(jq -r '.predictedDowntimeMs // "?" | if type == "number" then round else . end' <<<"$json" 2>/dev/null || echo "?")
    verified_at=$(jq -r '.pausedToVerifiedMs // "?" | if type == "number" then round else . end' <<<"$json" 2>/dev/null || echo "?")
    switched_at=$(jq -r '.pausedToSwitchedMs // "?" | if type == "number" then round else . end' <<<"$json" 2>/dev/null || echo "?")
    rounds=$(jq -r '.rounds // "?"' <<<"$json" 2>/dev/null || echo "?")
    tbytes=$(jq -r '.bytesOnWire // "?"' <<<"$json" 2>/dev/null || echo "?")
    local s2d d2s
    s2d=$(( $(sed -n 's/^WAN_S2D_BYTES=//p' <<<"$after") - $(sed -n 's/^WAN_S2D_BYTES=//p' <<<"$before") ))
    d2s=$(( $(sed -n 's/^WAN_D2S_BYTES=//p' <<<"$after") - $(sed -n 's/^WAN_D2S_BYTES=//p' <<<"$before") ))
    local total
    total=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
    log "run $r: migrate exit $rc, state $state, ${total} s, downtime $downtime ms (predicted $predicted ms), rounds $rounds, wire s2d $s2d d2s $d2s"
    [[ $downtime =~ ^[0-9]+$ ]] && DOWNTIMES+=("$downtime")

    # After the switch the guest's disk is the destination across the WAN: every O_DSYNC record costs round trips,
    # so the guest is stopped here and every record it had reported written ("TPW seq=N": on the disk before the
    # line is printed) is checked on the destination volume (the source's copy is stale after the switch).
    local check="not checked"
    if ((rc == 0)); then
        sleep 2
        kill -TERM "$qemu" 2>/dev/null || true
        timeout 20 tail --pid="$qemu" -f /dev/null 2>/dev/null || kill -KILL "$qemu" 2>/dev/null || true
        grep -q "TPW error" "$d/guest.log" && die "run $r: the guest's writer failed: $(grep TPW "$d/guest.log" | tail -n 3)"
        local upto
        upto=$(grep -o 'TPW seq=[0-9]*' "$d/guest.log" | tail -n1 | cut -d= -f2)
        grep -q "TPW idle" "$d/guest.log" && upto=$((COUNT - 1))
        [[ -n $upto ]] || die "run $r: the guest reported no record"
        local res
        if res=$("$WORK/check" "$d/dst/vm1.img" "$((upto + 1))" "$runid"); then
            check="records 0-$upto (all the guest reported) intact on the destination"
        else
            check="**$(cut -d' ' -f1 <<<"$res") of $((upto + 1)) records wrong** (first: $(cut -d' ' -f2 <<<"$res"))"
            FAILED=1
        fi
    else
        check="migration failed: $(tail -n 3 "$d/migrate.log" | tr '\n' ' ')"
        FAILED=1
    fi
    log "run $r: $check (guest at record ${seq_at_end:-?} when the migration ended)"
    ROWS+=("| $r | $MODE | $state | $total s | $downtime ms | $predicted ms | +$verified_at / +$switched_at ms | $rounds | $(awk -v a="$s2d" -v b="$d2s" 'BEGIN{printf "%.2f MB (%.2f / %.2f)", (a+b)/1e6, a/1e6, b/1e6}') | $(awk -v t="$tbytes" 'BEGIN{printf (t ~ /^[0-9]+$/ ? "%.2f MB" : "%s"), (t ~ /^[0-9]+$/ ? t/1e6 : t)}') | ${seq_at_end:-?} | $check |")

    # Stop this run's processes (QEMU first, then the roles).
    stop_pids_since PIDS "$pids_before"
}

START=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((r = 1; r <= RUNS; r++)); do run_one "$r"; done

{
    echo "Live migration over the emulated WAN ($RATE, $DELAY each way; link check: rtt ${WAN_CHECK_RTT_AVG_MS:-?} ms," \
        "${WAN_CHECK_S2D_MBIT:-?} / ${WAN_CHECK_D2S_MBIT:-?} Mbit/s), ${VOLUME_MIB} MiB volume, guest mode $MODE${FENCED:+, fenced cut-over}" \
        "($COUNT records, ${DELAY_US} µs apart); $START; commit $COMMIT${DIRTY:+ + uncommitted changes in src/ or contracts/}."
    echo
    echo "| run | guest | state | total (migrate --wait) | downtime (measured) | predicted downtime | after the pause: destination verified / disk switched | rounds | bytes on the link, both ways (s2d / d2s) | data channel (Teleport's count) | guest's last record when migrate returned | destination check |"
    echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    printf '%s\n' "${ROWS[@]}"
    if ((${#DOWNTIMES[@]} > 0)); then
        echo
        printf '%s\n' "${DOWNTIMES[@]}" | sort -n | awk '{ v[NR] = $1 } END {
            printf "Downtime over %d succeeded run(s): p50 %d ms, max %d ms.\n", NR, v[int((NR + 1) / 2)], v[NR] }'
    fi
} | tee "${OUT:-/dev/null}"
exit "$FAILED"
