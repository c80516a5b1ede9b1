# qemu-utils for Teleport.Nbd.Tests: real NBD clients (qemu-io, qemu-img) that drive our server,
# and a reference NBD server (qemu-nbd) that our client is checked against.
need_packages qemu-utils
export TELEPORT_QEMU_IO="$(command -v qemu-io)"
export TELEPORT_QEMU_IMG="$(command -v qemu-img)"
export TELEPORT_QEMU_NBD="$(command -v qemu-nbd)"
