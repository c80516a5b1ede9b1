#!/bin/sh
# Payload of the workload guest (/run.sh): writes GUEST_COUNT records to /dev/vda, then the guest powers off.
# Kernel arguments: guest.count=N guest.run=ID guest.every=N (progress line every N records),
# guest.delay=USEC (pause between records), guest.hold=SECONDS (stay up idle that long after writing),
# guest.verify=BACK (read back the records 1 and BACK before each one: never stale; 0 or unset: off),
# guest.dirty=MIB (rewrite MIB MiB of random bytes in memory, over and over, while the writer runs: a guest that dirties
# memory faster than a throttled link carries it, so QEMU's pre-copy cannot converge; 0 or unset: off).
count=${GUEST_COUNT:-1000}
if [ "${GUEST_DIRTY:-0}" -gt 0 ]; then
	# Random, not zero: QEMU sends a zero page as a flag, which would not load the link.
	dd if=/dev/urandom of=/tmp/dirty-src bs=1M count="$GUEST_DIRTY" 2>/dev/null
	(while :; do dd if=/tmp/dirty-src of=/tmp/dirty bs=1M conv=notrunc 2>/dev/null; done) &
	echo "TPW dirtying ${GUEST_DIRTY} MiB"
fi
echo "TPW guest ready"
/usr/local/bin/teleport-writer -c "$count" -r "${GUEST_RUN:-1}" -p "${GUEST_EVERY:-50}" -d "${GUEST_DELAY:-0}" -v "${GUEST_VERIFY:-0}" /dev/vda
echo "TPW exit $?"
if [ "${GUEST_HOLD:-0}" -gt 0 ]; then
	echo "TPW idle ${GUEST_HOLD}"
	sleep "$GUEST_HOLD"
fi
