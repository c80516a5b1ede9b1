#!/bin/sh
# Payload of the workload guest (/run.sh): writes GUEST_COUNT records to /dev/vda
# (kernel arguments guest.count=N guest.run=ID guest.every=N), then the guest powers off.
count=${GUEST_COUNT:-1000}
echo "TPW guest ready"
/usr/local/bin/teleport-writer -c "$count" -r "${GUEST_RUN:-1}" -p "${GUEST_EVERY:-50}" /dev/vda
echo "TPW exit $?"
