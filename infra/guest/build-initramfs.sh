#!/usr/bin/env bash
# Builds a busybox initramfs for a test guest.
#
#   build-initramfs.sh --kernel-root DIR --kver VER --out FILE.cpio.gz
#       [--module NAME]...      kernel module from DIR, loaded at boot with its dependencies
#       [--extra-module F.ko]...  out-of-tree module, loaded last (dependencies from modinfo)
#       [--bin PATH]...         executable copied to the same path, with the shared libraries ldd lists
#       [--file SRC:DST]...     any file, copied to DST inside the guest
#       --run SCRIPT            the guest's payload, run by /init as /run.sh
#
# /init mounts /proc, /sys, /dev (devtmpfs) and /tmp, loads the modules, runs
# /run.sh with the console as its output, then powers off. Kernel arguments
# of the form guest.NAME=VALUE are exported to /run.sh as GUEST_NAME=VALUE.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kroot='' kver='' out='' run=''
modules=() extra=() bins=() files=()
while (($#)); do
	case $1 in
	--kernel-root) kroot=$2; shift 2 ;;
	--kver) kver=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--module) modules+=("$2"); shift 2 ;;
	--extra-module) extra+=("$2"); shift 2 ;;
	--bin) bins+=("$2"); shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--run) run=$2; shift 2 ;;
	*) echo "build-initramfs.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -n $kroot && -n $kver && -n $out && -n $run ]] || {
	echo "build-initramfs.sh: --kernel-root, --kver, --out and --run are required" >&2; exit 2; }
mdir=$kroot/lib/modules/$kver
[[ -f $mdir/modules.dep ]] || { echo "build-initramfs.sh: $mdir/modules.dep missing" >&2; exit 1; }
busybox=$(command -v busybox) || { echo "build-initramfs.sh: busybox-static missing" >&2; exit 1; }
file -L "$busybox" | grep -q 'statically linked' || {
	echo "build-initramfs.sh: $busybox is not static (install busybox-static)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,mnt,etc,lib/modules}
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list-full); do
	[[ -e $stage/$applet ]] || ln -s /bin/busybox "$stage/$applet"
done

# Modules, dependencies first, in the order /init loads them.
order=()
declare -A seen=()
add_module() { # path relative to $mdir
	local rel=$1 dep deps
	[[ -n ${seen[$rel]:-} ]] && return
	seen[$rel]=1
	deps=$(awk -F': *' -v m="$rel" '$1 == m { print $2 }' "$mdir/modules.dep")
	# modules.dep lists the full closure, last needed first.
	for dep in $(tr ' ' '\n' <<<"$deps" | tac); do add_module "$dep"; done
	order+=("$rel")
}
find_module() { # module name, - and _ alike
	local name=${1//-/_} rel
	rel=$(awk -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko(\..*)?$/, "", n); gsub(/-/, "_", n);
		if (n == want) { print $1; exit } }' want="$name" "$mdir/modules.dep")
	[[ -n $rel ]] || { echo "build-initramfs.sh: module $1 not found in $mdir" >&2; exit 1; }
	echo "$rel"
}
for m in "${modules[@]}"; do add_module "$(find_module "$m")"; done
for ko in "${extra[@]}"; do
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do add_module "$(find_module "$dep")"; done
done
: >"$stage/etc/modules"
for rel in "${order[@]}"; do
	mkdir -p "$stage/lib/modules/$(dirname "$rel")"
	case $rel in
	*.ko.xz) xz -dc "$mdir/$rel" >"$stage/lib/modules/${rel%.xz}"; rel=${rel%.xz} ;;
	*.ko.zst) zstd -qdc "$mdir/$rel" >"$stage/lib/modules/${rel%.zst}"; rel=${rel%.zst} ;;
	*) cp "$mdir/$rel" "$stage/lib/modules/$rel" ;;
	esac
	echo "/lib/modules/$rel" >>"$stage/etc/modules"
done
for ko in "${extra[@]}"; do
	cp "$ko" "$stage/lib/modules/"
	echo "/lib/modules/$(basename "$ko")" >>"$stage/etc/modules"
done

copy_in() { # host path -> same path in the guest, following symlinks
	mkdir -p "$stage/$(dirname "$1")"
	cp -L "$1" "$stage/$1"
}
for b in "${bins[@]}"; do
	copy_in "$b"
	for lib in $(ldd "$b" 2>/dev/null | grep -o '/[^ ]*' || true); do copy_in "$lib"; done
done
for f in "${files[@]}"; do
	mkdir -p "$stage/$(dirname "${f#*:}")"
	cp -L "${f%%:*}" "$stage/${f#*:}"
done
cp "$run" "$stage/run.sh"
cp "$here/init" "$stage/init"
chmod +x "$stage/init" "$stage/run.sh"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
