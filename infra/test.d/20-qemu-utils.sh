# shellcheck shell=bash
# Hook (sourced by infra/test.sh): qemu-utils for tests/Teleport.Nbd.Tests — real NBD clients
# (qemu-io, qemu-img) that drive our server, and a reference NBD server (qemu-nbd) for our client.
# Exports TELEPORT_QEMU_IO, TELEPORT_QEMU_IMG, TELEPORT_QEMU_NBD (the tests fail loudly without them).
need_packages qemu-utils
TELEPORT_QEMU_IO=$(command -v qemu-io)
TELEPORT_QEMU_IMG=$(command -v qemu-img)
TELEPORT_QEMU_NBD=$(command -v qemu-nbd)
export TELEPORT_QEMU_IO TELEPORT_QEMU_IMG TELEPORT_QEMU_NBD
