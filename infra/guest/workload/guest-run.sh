#!/bin/sh
# Payload of the workload guest (/run.sh): writes GUEST_COUNT records to /dev/vda, then the guest powers off.
# Kernel arguments: guest.count=N guest.run=ID guest.every=N (progress line every N records),
# guest.delay=USEC (pause between records), guest.hold=SECONDS (stay up idle that long after writing),
# guest.verify=BACK (read back the records 1 and BACK before each one: never stale; 0 or unset: off).
count=${GUEST_COUNT:-1000}
echo "TPW guest ready"
/usr/local/bin/teleport-writer -c "$count" -r "${GUEST_RUN:-1}" -p "${GUEST_EVERY:-50}" -d "${GUEST_DELAY:-0}" -v "${GUEST_VERIFY:-0}" /dev/vda
echo "TPW exit $?"
if [ "${GUEST_HOLD:-0}" -gt 0 ]; then
	echo "TPW idle ${GUEST_HOLD}"
	sleep "$GUEST_HOLD"
fi
