#!/usr/bin/env bash
# Builds the workload test guest: Debian's kernel (infra/guest/kernel.sh), a busybox initramfs with the
# virtio modules and teleport-writer (static), payload guest-run.sh. Boots in ~3 s under TCG.
#
#   build-guest.sh OUTDIR
#
# Prints, for eval: TELEPORT_GUEST_KERNEL, TELEPORT_GUEST_INITRD, TELEPORT_GUEST_WRITER (the writer built
# for the host too, to run against plain files).
# Needs: gcc, libc6-dev, busybox-static, cpio, kmod, file, linux-headers-amd64.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$out"

eval "$("$here/../kernel.sh")"
gcc -static -O2 -Wall -Wextra -Werror -o "$out/teleport-writer" "$here/teleport-writer.c"
"$here/../build-initramfs.sh" --kernel-root "$GUEST_KERNEL_ROOT" --kver "$GUEST_KVER" --out "$out/initrd.gz" \
	--module virtio_pci --module virtio_blk \
	--file "$out/teleport-writer:/usr/local/bin/teleport-writer" \
	--run "$here/guest-run.sh" >&2

echo "TELEPORT_GUEST_KERNEL=$GUEST_VMLINUZ"
echo "TELEPORT_GUEST_INITRD=$out/initrd.gz"
echo "TELEPORT_GUEST_WRITER=$out/teleport-writer"
