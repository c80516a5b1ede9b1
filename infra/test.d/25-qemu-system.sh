# shellcheck shell=bash
# Hook (sourced by infra/test.sh): QEMU system emulation and the workload guest for tests/Teleport.Host.Tests.
# Exports TELEPORT_QEMU_SYSTEM (qemu-system-x86_64), and from infra/guest/workload/build-guest.sh
# TELEPORT_GUEST_KERNEL, TELEPORT_GUEST_INITRD, TELEPORT_GUEST_WRITER; when the guest cannot be built,
# TELEPORT_GUEST_ERROR with the reason (the guest tests then fail with it).
need_packages qemu-system-x86 gcc libc6-dev busybox-static cpio kmod file xz-utils linux-headers-amd64
TELEPORT_QEMU_SYSTEM=$(command -v qemu-system-x86_64)
export TELEPORT_QEMU_SYSTEM
unset TELEPORT_GUEST_KERNEL TELEPORT_GUEST_INITRD TELEPORT_GUEST_WRITER TELEPORT_GUEST_ERROR
_guest_dir=${TELEPORT_CACHE:-$HOME/.cache/teleport}/workload-guest
if _guest_env=$(bash "$(dirname "${BASH_SOURCE[0]}")/../guest/workload/build-guest.sh" "$_guest_dir"); then
	eval "export ${_guest_env//$'\n'/ }"
else
	TELEPORT_GUEST_ERROR="infra/guest/workload/build-guest.sh failed (see the test.sh output)"
	export TELEPORT_GUEST_ERROR
	echo "25-qemu-system.sh: $TELEPORT_GUEST_ERROR" >&2
fi
unset _guest_dir _guest_env
