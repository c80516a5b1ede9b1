#!/usr/bin/env bash
# Boots a test guest under QEMU (TCG; KVM with GUEST_ACCEL=kvm) and copies
# its serial console to stdout and, with --log, to a file.
#
#   run-guest.sh --kernel VMLINUZ --initrd INITRD [--disk FILE[,opts]]... [--hostroot]
#       [--append "guest.x=y ..."] [--mem MiB] [--cpus N] [--timeout SECONDS] [--log FILE]
#
# --disk adds a virtio disk (raw format, discard passed through); in the guest
# they appear as /dev/vda, /dev/vdb... in order. --hostroot exports the host's /
# read-only over 9p with mount tag "hostroot". The guest powers itself off;
# QEMU is killed after --timeout (exit status 124).
set -euo pipefail

kernel='' initrd='' append='' mem=1024 cpus=2 timeout=600 log='' hostroot=0
disks=()
while (($#)); do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--initrd) initrd=$2; shift 2 ;;
	--disk) disks+=("$2"); shift 2 ;;
	--hostroot) hostroot=1; shift ;;
	--append) append=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	*) echo "run-guest.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[[ -f $kernel && -f $initrd ]] || { echo "run-guest.sh: --kernel and --initrd must exist" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "run-guest.sh: qemu-system-x86 missing" >&2; exit 1; }

args=(-machine q35 -m "$mem" -smp "$cpus" -nographic -no-reboot -nodefaults
	-serial stdio -kernel "$kernel" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 $append")
# TCG unless asked otherwise: /dev/kvm may exist yet not work (nested
# virtualisation), and the tests must not depend on the host kernel.
if [[ ${GUEST_ACCEL:-tcg} == kvm ]]; then args+=(-accel kvm -cpu host); else args+=(-accel tcg -cpu max); fi
i=0
for d in "${disks[@]}"; do
	opts=
	if [[ $d == *,* ]]; then opts=,${d#*,}; fi
	args+=(-drive "file=${d%%,*},if=none,id=d$i,format=raw,discard=unmap,cache=unsafe$opts"
		-device "virtio-blk-pci,drive=d$i")
	i=$((i + 1))
done
if ((hostroot)); then
	args+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on")
fi

if [[ -n $log ]]; then
	timeout --kill-after=10 "$timeout" qemu-system-x86_64 "${args[@]}" </dev/null | tee "$log"
	exit "${PIPESTATUS[0]}"
fi
exec timeout --kill-after=10 "$timeout" qemu-system-x86_64 "${args[@]}" </dev/null
