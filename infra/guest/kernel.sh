#!/usr/bin/env bash
# Fetches Debian's amd64 kernel image matching the installed linux-headers-amd64
# and extracts it under ~/.cache/teleport (never installs it: its postinst would
# run initramfs hooks on this machine). Prints shell assignments:
#   GUEST_KVER=<abi>  GUEST_KERNEL_ROOT=<dir>  GUEST_VMLINUZ=<file>  GUEST_KBUILD=<headers dir>
# Usage: eval "$(infra/guest/kernel.sh)"
set -euo pipefail

cache=${TELEPORT_CACHE:-$HOME/.cache/teleport}
# The ABI the headers meta-package points at, e.g. 6.1.0-56-amd64; image and
# headers always come from the same version.
headers=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null | grep -o 'linux-headers-[^ ,]*-amd64' | head -n1)
if [[ -z $headers ]]; then
	echo "kernel.sh: linux-headers-amd64 is not installed" >&2
	exit 1
fi
kver=${headers#linux-headers-}
kbuild=/usr/src/linux-headers-$kver
[[ -d $kbuild ]] || { echo "kernel.sh: $kbuild missing (install $headers)" >&2; exit 1; }

root=$cache/kernel-$kver
if [[ ! -f $root/.done ]]; then
	rm -rf "$root" "$cache/dl-$kver"
	mkdir -p "$cache/dl-$kver"
	# apt-get download writes to the current directory; _apt cannot write
	# under /root, so it downloads unsandboxed (a harmless warning).
	if ! (cd "$cache/dl-$kver" && apt-get download -q "linux-image-$kver" >&2); then
		echo "kernel.sh: cannot download linux-image-$kver; if Debian has moved on to a newer ABI," \
			"upgrade linux-headers-amd64 (apt-get update && apt-get install linux-headers-amd64)" >&2
		exit 1
	fi
	dpkg-deb -x "$cache/dl-$kver/linux-image-$kver"_*.deb "$root"
	# The package ships no modules.dep; the initramfs builder needs it.
	depmod -b "$root" "$kver"
	rm -rf "$cache/dl-$kver"
	touch "$root/.done"
fi

echo "GUEST_KVER=$kver"
echo "GUEST_KERNEL_ROOT=$root"
echo "GUEST_VMLINUZ=$root/boot/vmlinuz-$kver"
echo "GUEST_KBUILD=$kbuild"
