# shellcheck shell=bash
# Hook (sourced by infra/test.sh): builds the dm-dirtytrack module against
# Debian's kernel headers (W=1, any warning fails), builds it again against
# the newest 6.x (x >= 4) headers Debian 12 offers (class_create() changed in
# 6.4), runs checkpatch.pl on it (any error fails), and builds the test guest:
# Debian's matching kernel image plus an initramfs with the module, dmsetup,
# kmod/test/dttest and kmod/test/dtguard.
#
# Exports for tests/Teleport.Storage.Tests (KernelTrackerGuestTests):
#   TELEPORT_KMOD_KO       the built module
#   TELEPORT_KMOD_KERNEL   the guest kernel (vmlinuz)
#   TELEPORT_KMOD_INITRD   the guest initramfs
#   TELEPORT_KMOD_RUN      kmod/test/run-tests.sh, which boots the guest
# or, when a step failed, TELEPORT_KMOD_ERROR with the reason (the tests then
# fail with it). Everything downloaded or extracted is cached under
# ~/.cache/teleport.

# Extracts (never installs) the newest linux-headers-6.N (N >= 4) amd64
# headers Debian 12 has, with their common headers and kbuild, under $1 and
# prints the directory to build against.
_kmod_newer_headers() {
	local cache=$1 pkg ver root dl deb
	pkg=$(apt-cache search --names-only '^linux-headers-6\.([4-9]|[1-9][0-9])\.[0-9.]+\+deb12-amd64$' |
		awk '{ print $1 }' | sort -V | tail -n 1)
	[[ -n $pkg ]] || { echo "no linux-headers-6.4+ package in the apt lists" >&2; return 1; }
	ver=${pkg#linux-headers-}
	ver=${ver%-amd64}
	root=$cache/headers-$ver
	if [[ ! -f $root/.done ]]; then
		rm -rf "$root"
		dl=$root.dl
		rm -rf "$dl"
		mkdir -p "$dl"
		(cd "$dl" && apt-get download -q "$pkg" "linux-headers-$ver-common" "linux-kbuild-$ver" >&2)
		for deb in "$dl"/*.deb; do dpkg-deb -x "$deb" "$root"; done
		rm -rf "$dl"
		# The arch headers include the common ones by absolute path.
		sed -i "s#/usr/src/#$root/usr/src/#" "$root/usr/src/$pkg/Makefile"
		touch "$root/.done"
	fi
	echo "$root/usr/src/$pkg"
}

_kmod_hook() (
	set -euo pipefail
	local repo cache kenv build log cp_dir cp_log errors newer
	if ! declare -F need_packages >/dev/null; then
		echo "need_packages is not defined: source infra/lib.sh first" >&2
		return 1
	fi
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	cache=${TELEPORT_CACHE:-$HOME/.cache/teleport}
	mkdir -p "$cache"

	need_packages linux-headers-amd64 linux-source-6.1 qemu-system-x86 busybox-static dmsetup \
		gcc make libc6-dev kmod cpio file xz-utils >&2

	kenv=$("$repo/infra/guest/kernel.sh")
	eval "$kenv"

	# Kbuild writes next to the sources: build a copy, private to this run (two runs on one machine must not
	# delete each other's module while its guest boots).
	build=$_kmod_build
	rm -rf "$build"
	mkdir -p "$build"
	cp "$repo"/kmod/{Kbuild,Makefile,dm-dirtytrack.c,dm-dirtytrack.h} "$build/"
	log=$build/build.log
	if ! make -C "$GUEST_KBUILD" M="$build" W=1 modules >"$log" 2>&1; then
		cat "$log" >&2
		echo "module build failed" >"$build/error"
		return 1
	fi
	if grep -E 'warning:|error:' "$log" >&2; then
		echo "module build has warnings at W=1 (see $log)" >"$build/error"
		return 1
	fi
	# The same sources against a newer kernel, in a copy of their own (compile only: no BTF, no pahole needed).
	newer=$(_kmod_newer_headers "$cache") || { echo "cannot fetch 6.4+ kernel headers" >"$build/error"; return 1; }
	mkdir -p "$build/newer"
	cp "$repo"/kmod/{Kbuild,Makefile,dm-dirtytrack.c,dm-dirtytrack.h} "$build/newer/"
	if ! make -C "$newer" M="$build/newer" W=1 CONFIG_DEBUG_INFO_BTF_MODULES= modules >"$build/newer.log" 2>&1 ||
		grep -E 'warning:|error:' "$build/newer.log" >&2; then
		cat "$build/newer.log" >&2
		echo "module build against ${newer##*/} failed or warned (see $build/newer.log)" >"$build/error"
		return 1
	fi

	# checkpatch.pl ships only in the kernel source tarball.
	cp_dir=$cache/checkpatch-6.1
	if [[ ! -f $cp_dir/.done ]]; then
		rm -rf "$cp_dir"
		mkdir -p "$cp_dir"
		tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$cp_dir" --strip-components=1 \
			linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
			linux-source-6.1/scripts/const_structs.checkpatch
		touch "$cp_dir/.done"
	fi
	cp_log=$build/checkpatch.log
	perl "$cp_dir/scripts/checkpatch.pl" --no-tree --strict -f \
		"$repo/kmod/dm-dirtytrack.c" "$repo/kmod/dm-dirtytrack.h" >"$cp_log" 2>&1 || true
	errors=$(awk '/^total:/ { n += $2 } END { print n + 0 }' "$cp_log")
	grep -q '^total:' "$cp_log" || errors=unknown
	if [[ $errors != 0 ]]; then
		cat "$cp_log" >&2
		echo "checkpatch.pl reports $errors errors" >"$build/error"
		return 1
	fi

	gcc -static -O2 -Wall -Wextra -Werror -pthread -o "$build/dttest" "$repo/kmod/test/dttest.c"
	gcc -static -O2 -Wall -Wextra -Werror -o "$build/dtguard" "$repo/kmod/test/dtguard.c"
	"$repo/infra/guest/build-initramfs.sh" --kernel-root "$GUEST_KERNEL_ROOT" --kver "$GUEST_KVER" \
		--out "$build/initrd.gz" \
		--module virtio_pci --module virtio_blk --module dm_delay --module 9p --module 9pnet_virtio \
		--extra-module "$build/dm-dirtytrack.ko" \
		--bin "$(command -v dmsetup)" --file "$build/dttest:/usr/local/bin/dttest" \
		--file "$build/dtguard:/usr/local/bin/dtguard" \
		--run "$repo/kmod/test/guest-run.sh"

	{
		echo "TELEPORT_KMOD_KO=$build/dm-dirtytrack.ko"
		echo "TELEPORT_KMOD_KERNEL=$GUEST_VMLINUZ"
		echo "TELEPORT_KMOD_INITRD=$build/initrd.gz"
		echo "TELEPORT_KMOD_RUN=$repo/kmod/test/run-tests.sh"
	} >"$build/env"
)

_kmod_cache=${TELEPORT_CACHE:-$HOME/.cache/teleport}
unset TELEPORT_KMOD_KO TELEPORT_KMOD_KERNEL TELEPORT_KMOD_INITRD TELEPORT_KMOD_RUN TELEPORT_KMOD_ERROR
# Builds of runs that were killed before their cleanup: their test.sh (the pid in the name) is gone.
for _kmod_line in "$_kmod_cache"/kmod-build.*; do
	[[ -d $_kmod_line ]] && ! kill -0 "${_kmod_line##*.}" 2>/dev/null && rm -rf "$_kmod_line"
done
_kmod_build=$_kmod_cache/kmod-build.$$
on_exit "rm -rf '$_kmod_build'"
# Not "if _kmod_hook": set -e is ignored inside a condition, and the hook relies on it.
_kmod_errexit=0
if [[ $- == *e* ]]; then _kmod_errexit=1; fi
set +e
_kmod_hook
_kmod_rc=$?
if ((_kmod_errexit)); then set -e; fi
if ((_kmod_rc == 0)); then
	while IFS= read -r _kmod_line; do
		export "${_kmod_line?}"
	done <"$_kmod_build/env"
else
	TELEPORT_KMOD_ERROR=$(cat "$_kmod_build/error" 2>/dev/null || echo "40-kmod.sh failed (see its output)")
	export TELEPORT_KMOD_ERROR
	echo "40-kmod.sh: $TELEPORT_KMOD_ERROR" >&2
fi
unset _kmod_cache _kmod_build _kmod_errexit _kmod_rc _kmod_line
