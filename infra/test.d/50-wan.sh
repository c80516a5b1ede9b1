# shellcheck shell=bash
# Hook (sourced by infra/test.sh): prerequisites of the WAN emulation in infra/wan/ (docs/wan.md). Quick and
# side-effect free: installs the tools, compiles the userspace delay line, creates no namespaces.
# Exports TELEPORT_WAN (the infra/wan directory: link.sh, run-in.sh, with-link.sh, selftest.sh).
need_packages iproute2 iperf3 iputils-ping gcc libc6-dev jq
[[ -c /dev/net/tun ]] || die "/dev/net/tun is missing: the WAN emulation's userspace delay line needs TUN devices"
"$TELEPORT_ROOT/infra/wan/link.sh" build >/dev/null || die "building the WAN delay line (infra/wan/delayline.c) failed"
TELEPORT_WAN=$TELEPORT_ROOT/infra/wan
export TELEPORT_WAN
