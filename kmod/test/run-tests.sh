#!/usr/bin/env bash
# Boots the kmod test guest and prints its console. Exits 0 only when the guest
# reported "KMOD-TEST DONE ... failed=0".
#
#   run-tests.sh --kernel VMLINUZ --initrd INITRD [--dotnet DOTNET --probe DLL] [--timeout S] [--log FILE]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kernel='' initrd='' dotnet='' probe='' timeout=900 log=''
while (($#)); do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--dotnet) dotnet=$2; shift 2 ;;
	--probe) probe=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	*) echo "run-tests.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
truncate -s 64M "$work/vda.img"
truncate -s 8M "$work/vdb.img"
append=loglevel=1
guest=(--disk "$work/vda.img" --disk "$work/vdb.img")
if [[ -n $dotnet && -n $probe ]]; then
	append="$append guest.dotnet=$dotnet guest.probe=$probe"
	guest+=(--hostroot)
fi
log=${log:-$work/console.log}
set +e
"$here/../../infra/guest/run-guest.sh" --kernel "$kernel" --initrd "$initrd" "${guest[@]}" \
	--append "$append" --mem 1536 --timeout "$timeout" --log "$log"
rc=$?
set -e
if ((rc == 124)); then echo "run-tests.sh: the guest timed out after ${timeout}s" >&2; fi
grep -q '^KMOD-TEST DONE passed=[0-9]* failed=0' <(tr -d '\r' <"$log")
