#!/usr/bin/env bash
# The first thing to run on a fresh machine: builds the teleport tool and runs `teleport demo`, a live migration
# driven by the saga with the whole system in one process (two storage workers, a host worker with a VM writing
# to its disk, the orchestrator, one in-memory bus), then prints what crossed the wire and the downtime, and
# checks every write the VM made is on the destination. Arguments go to `teleport demo`
# (--json, --size BYTES, --bandwidth RATE, --keep DIR, --guest, --whole-vm; see --help).
# With --guest or --whole-vm and no TELEPORT_GUEST_KERNEL/INITRD set, the QEMU test guest is built first
# (infra/guest/workload/build-guest.sh into ~/.cache/teleport/workload-guest; quick once built).
#
# --with-images (first argument) also builds the Debian test disk images (downloads packages; needs root for
# that), shows how much of each a destination would rebuild from the others, and migrates lamp.img cold with
# teleport send/receive over 127.0.0.1. Images land under ~/.cache/teleport (TELEPORT_TEST_IMAGES overrides).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
with_images=0
if [[ ${1:-} == --with-images ]]; then
    with_images=1
    shift
fi

dotnet build "$root/src/Teleport.Cli" -c Release -v quiet -nologo >&2
if [[ " $* " == *" --guest "* || " $* " == *" --whole-vm "* ]] && [[ -z ${TELEPORT_GUEST_KERNEL:-} || -z ${TELEPORT_GUEST_INITRD:-} ]]; then
    guest_env=$("$root/infra/guest/workload/build-guest.sh" "${TELEPORT_CACHE:-$HOME/.cache/teleport}/workload-guest")
    eval "export ${guest_env//$'\n'/ }"
fi
teleport=("dotnet" "$root/src/Teleport.Cli/bin/Release/net10.0/teleport.dll")

if ((!with_images)); then
    exec "${teleport[@]}" demo "$@"
fi

"${teleport[@]}" demo "$@"

images=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}
"$root/infra/images/make-test-images.sh" --out "$images" >&2

echo "== Similarity between the test systems (4 KiB blocks)"
"${teleport[@]}" similarity \
    --base "$images/base.img" --base "$images/lamp.img" --base "$images/web.img" \
    --target "$images/base.img" --target "$images/lamp.img" --target "$images/web.img"

echo "== Indexing base.img, then migrating lamp.img to that destination over 127.0.0.1 (cold: nobody writes it meanwhile)"
"${teleport[@]}" index build --index "$images/index" "$images/base.img"
work=$(mktemp -d)
trap 'kill "${receiver:-}" 2>/dev/null; rm -rf "$work"' EXIT
head -c 32 /dev/urandom >"$work/secret"
port=7400
while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 1)); done
"${teleport[@]}" receive --listen "127.0.0.1:$port" --volume "$work/lamp.img" --index "$images/index" \
    --secret-file "$work/secret" >"$work/received.txt" 2>"$work/receive.log" &
receiver=$!
until ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do
    kill -0 "$receiver" 2>/dev/null || { cat "$work/receive.log" >&2; exit 1; }
    sleep 0.1
done
"${teleport[@]}" send --to "127.0.0.1:$port" --volume "$images/lamp.img" --secret-file "$work/secret" 2>/dev/null
wait "$receiver"
cmp -s "$images/lamp.img" "$work/lamp.img" && echo "the received lamp.img is byte-for-byte the source"
