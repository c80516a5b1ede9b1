# shellcheck shell=bash
# Teleport's side of wan-whole-vm.sh (sourced by it after the link, the volume and the guest are set up): RabbitMQ on
# the source's link address, then per run (run_teleport N) the role processes of a whole-VM move and
# `teleport migrate --to-host hv2 --wait --json`, the row added by row_of like the anchor's.
# shellcheck disable=SC2034  # FAILED and ROWS are wan-whole-vm.sh's

if [[ -z $DLL ]]; then
    publish_teleport "$WORK/published" "$WORK/build.log"
    DLL=$WORK/published/teleport.dll
fi
TP=()
copy_teleport "$DLL" "$WORK/teleport" TP
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || die "rabbitmq-server is missing (apt-get install rabbitmq-server)"

RMQ_NODE=wanwhole
# shellcheck source=infra/bench/wan-rabbitmq.sh
source infra/bench/wan-rabbitmq.sh

# The destination's content index over base.img: most of the volume's blocks are rebuilt there, not sent.
mkdir -p "$WORK/dst-index"
"${TP[@]}" index build --index "$WORK/dst-index" "$WORK/base.img" >"$WORK/index.log" 2>&1 || die "teleport index build failed"

run_teleport() {
    local r=$1
    local d=$WORK/teleport$r pids_before=${#PIDS[@]} runid=$((3000 + r)) sport=$((10909 + r)) dport=$((11909 + r))
    mkdir -p "$d/src" "$d/dst" "$d/run" "$d/hv2"
    cp "$WORK/volume.img" "$d/src/vm1.img"
    # The guest's machine and devices, as in start_guest; each host adds the disk.
    # shellcheck disable=SC2054  # the commas are QEMU's, inside one argument
    local args=(-machine q35 -m 262136k -smp 1 -nodefaults -nographic -no-reboot -serial stdio -accel tcg -cpu max
        -kernel "$TELEPORT_GUEST_KERNEL" -initrd "$TELEPORT_GUEST_INITRD"
        -append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count=$COUNT guest.every=1 guest.run=$runid guest.delay=$DELAY_US guest.hold=3600 guest.dirty=$GUEST_DIRTY"
        -device virtio-blk-pci,drive=disk0)
    printf '%s\n' "${args[@]}" | jq -R . | jq -s '{arguments: ., diskNodeName: "disk0"}' >"$d/vm1.json"
    # Each host its own state directory: the source's memory relay socket is there, not in a shared /tmp.
    jq -n --arg ip "$WAN_DST_IP" --arg dst "$WAN_DST_IP:$dport" --arg state "$d/hv1" \
        '{Host: {StateDirectory: $state, Peers: {hv2: $ip}, Storages: {dst: {Nbd: $dst}}}}' >"$d/hv1.json"
    jq -n --arg listen "$WAN_DST_IP:0" --arg state "$d/hv2" --arg qemu "$(command -v qemu-system-x86_64)" --arg dst "$WAN_DST_IP:$dport" \
        --arg kernel "$(dirname "$TELEPORT_GUEST_KERNEL")" --arg initrd "$(dirname "$TELEPORT_GUEST_INITRD")" \
        '{Host: {StateDirectory: $state, QemuBinary: $qemu, MigrationListen: $listen, MigrationInsecure: true,
          BootFileDirectories: [$kernel, $initrd], Storages: {dst: {Nbd: $dst}}}}' >"$d/hv2.json"

    "${SRC[@]}" "${TP[@]}" orchestrator --db "$d/orchestrator.db" --bus "$BUS" >"$d/orchestrator.log" 2>&1 &
    PIDS+=($!)
    "${SRC[@]}" "${TP[@]}" storage --id src --volumes "$d/src" --nbd-listen "$WAN_SRC_IP:$sport" --nbd-insecure --advertise "$WAN_SRC_IP" \
        --data-listen "$WAN_SRC_IP:0" --bus "$BUS" >"$d/storage-src.log" 2>&1 &
    PIDS+=($!)
    "${DST[@]}" "${TP[@]}" storage --id dst --volumes "$d/dst" --index "$WORK/dst-index" --nbd-listen "$WAN_DST_IP:$dport" --nbd-insecure \
        --advertise "$WAN_DST_IP" --data-listen "$WAN_DST_IP:0" --bus "$BUS" >"$d/storage-dst.log" 2>&1 &
    PIDS+=($!)
    wait_for "source NBD port" 60 listening "$WAN_SRC_NS" "$sport" || exit 1
    wait_for "destination NBD port" 60 listening "$WAN_DST_NS" "$dport" || exit 1
    "${DST[@]}" "${TP[@]}" host --id hv2 --config "$d/hv2.json" --bus "$BUS" >"$d/hv2.log" 2>&1 &
    local hv2=$!
    PIDS+=("$hv2")
    "${SRC[@]}" "${TP[@]}" host --id hv1 --config "$d/hv1.json" --bus "$BUS" \
        --vm "vm1,qmp=$d/run/vm1.qmp,listen=unix:$d/run/vm1.nbd,storage=src,upstream=$WAN_SRC_IP:$sport,export=vm1,definition=$d/vm1.json" \
        >"$d/hv1.log" 2>&1 &
    PIDS+=($!)
    wait_for "the path switcher's socket" 60 test -S "$d/run/vm1.nbd" || exit 1

    "${SRC[@]}" qemu-system-x86_64 "${args[@]}" \
        -blockdev "driver=nbd,node-name=disk0,server.type=unix,server.path=$d/run/vm1.nbd,export=vm1,cache.direct=on" \
        -qmp "unix:$d/run/vm1.qmp,server=on,wait=off" </dev/null > >(stamp >"$d/src-console.log") 2>&1 &
    local src_qemu=$!
    PIDS+=("$src_qemu")
    # hv2 appends the incoming QEMU's console to its state directory; stamped here as it arrives (polled every 10 ms:
    # the file does not exist yet, so tail polls, by default once a second, which added up to 1 s to the guest's gap).
    tail -F -s 0.01 -n +1 "$d/hv2/vm1.console.log" 2>/dev/null > >(stamp >"$d/dst-console.log") &
    PIDS+=($!)
    wait_for "the guest's first records" 180 grep -qs "TPW seq=20" "$d/src-console.log" || exit 1
    log "teleport run $r: guest writing; teleport migrate --to-host hv2 $MIGRATE_ARGS"

    local before after t0 t1 out rc=0
    before=$(link_bytes)
    t0=$EPOCHREALTIME
    local extra=()
    read -r -a extra <<<"$MIGRATE_ARGS"
    out=$("${SRC[@]}" "${TP[@]}" migrate --vm vm1 --volume vm1 --from src --to dst --host hv1 --to-host hv2 --wait --timeout "$MIGRATE_TIMEOUT" --json \
        "${extra[@]}" --bus "$BUS" 2>"$d/migrate.log") || rc=$?
    t1=$EPOCHREALTIME
    after=$(link_bytes)
    echo "$out" >"$d/migrate.json"
    if ((rc != 0)) || [[ $(jq -r '.state' <<<"$out" 2>/dev/null) != Succeeded ]]; then
        ROWS+=("| teleport | $r | **failed: $(jq -r '.failure // .reason // empty' <<<"$out" 2>/dev/null) $(tail -n 2 "$d/migrate.log" | tr '\n' ' ')** | | | | | | | | |")
        FAILED=1
    else
        local last json
        last=$(grep -o 'TPW seq=[0-9]*' "$d/src-console.log" | tail -n1 | cut -d= -f2)
        wait_for "records from the destination QEMU" 60 grep -qs "TPW seq=$((last + 50))" "$d/dst-console.log" || true
        json=$(jq -c --arg s "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')" \
            '{seconds: ($s | tonumber), memoryBytes, diskBytes: .bytesOnWire, qemuDowntimeMs, downtimeMs, state, postCopy}' <<<"$out")
        # The QEMU hv2 started is stopped first (stopping hv2 first would close the guest's disk path under it: an I/O
        # error); the source QEMU quit after the move.
        local dst_qemu
        dst_qemu=$(pgrep -f -- "unix:$d/hv2/vm1.qmp," | head -n1)
        row_of teleport "$r" "$d" "$json" "$((after - before))" "${dst_qemu:-$hv2}" "$src_qemu" "$d/dst/vm1.img" "$runid"
    fi
    stop_pids_since PIDS "$pids_before"
}
