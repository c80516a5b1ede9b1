#!/bin/sh
# Runs inside the test guest (as /run.sh of an initramfs built by
# infra/guest/build-initramfs.sh): /dev/vda and /dev/vdb are empty scratch
# disks. Prints "KMOD-TEST PASS|FAIL name ..." per case and a final
# "KMOD-TEST DONE passed=N failed=M" line that run-tests.sh looks for.
#
# With guest.dotnet=PATH and guest.probe=DLL on the kernel command line, the
# host's root is mounted over 9p and the C# KernelDirtyTracker is exercised
# against the module by running "dotnet DLL kernel-tracker-probe /dev/mapper/tp"
# chrooted into it.
export DM_DISABLE_UDEV=1
results=/tmp/results
: >$results

report() { echo "KMOD-TEST $*" | tee -a $results; }

if grep -q dirtytrack /proc/modules; then report PASS module_loads; else report FAIL module_loads insmod failed; fi

dttest /dev/vda >/tmp/dttest.out 2>&1
rc=$?
tee -a $results </tmp/dttest.out
case $rc in
0 | 1) ;;
*) report FAIL dttest exited with status $rc ;;
esac

dtguard /dev/vda >/tmp/dtguard.out 2>&1
rc=$?
tee -a $results </tmp/dtguard.out
case $rc in
0 | 1) ;;
*) report FAIL dtguard exited with status $rc ;;
esac

if [ -n "$GUEST_DOTNET" ] && [ -n "$GUEST_PROBE" ]; then
	mkdir -p /host
	if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000 hostroot /host; then
		report FAIL dotnet_probe cannot mount the host root over 9p
	elif ! printf '0 16384 dirtytrack /dev/vdb 0 4096\n' | dmsetup create tp; then
		report FAIL dotnet_probe cannot create the probe device
	else
		for d in dev proc sys; do mount --bind /$d /host/$d; done
		# .NET needs a writable home and temp directory, and the host root is read-only. The tmpfs goes over a
		# host directory that holds neither the probe nor dotnet: a checkout under /tmp must stay visible.
		scratch=
		for d in /mnt /media /srv /opt /tmp; do
			case "$GUEST_PROBE:$GUEST_DOTNET" in "$d"/* | *:"$d"/*) continue ;; esac
			if [ -d "/host$d" ]; then scratch=$d; break; fi
		done
		mount -t tmpfs tmpfs "/host$scratch"
		chroot /host /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$scratch" DOTNET_CLI_HOME="$scratch" TMPDIR="$scratch" \
			DOTNET_NOLOGO=1 DOTNET_EnableDiagnostics=0 DOTNET_gcServer=0 \
			"$GUEST_DOTNET" "$GUEST_PROBE" kernel-tracker-probe /dev/mapper/tp 2>&1 | tee -a $results
		grep -q '^KMOD-TEST .* dotnet_' $results || report FAIL dotnet_probe the probe printed no result
		dmsetup remove tp || report FAIL dotnet_probe_cleanup cannot remove the probe device
		umount "/host$scratch" /host/sys /host/proc /host/dev /host
	fi
fi

# Warnings, oopses and lockdep splats fail the run even when every case passed.
if dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|blocked for more than' >/tmp/bad; then
	report FAIL kernel_log_clean "$(head -n1 /tmp/bad)"
	dmesg | tail -n 40
else
	report PASS kernel_log_clean
fi

echo "KMOD-TEST DONE passed=$(grep -c '^KMOD-TEST PASS' $results) failed=$(grep -c '^KMOD-TEST FAIL' $results)"
