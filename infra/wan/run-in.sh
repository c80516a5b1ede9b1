#!/usr/bin/env bash
# Runs a command in one end of the emulated WAN link (docs/wan.md): run-in.sh src|dst CMD [ARGS...]
# The link is named by WAN_NAME (default tp), as printed by `link.sh up`.
set -euo pipefail
if [[ $# -lt 2 || ! $1 =~ ^(src|dst)$ ]]; then
    echo "usage: run-in.sh src|dst COMMAND [ARGS...]   (link name from WAN_NAME, default tp)" >&2
    exit 2
fi
name=${WAN_NAME:-tp}
ns=$name-$1
shift
if ! ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$ns"; then
    echo "run-in.sh: namespace $ns does not exist; bring the link up first: infra/wan/link.sh up --name $name" >&2
    exit 2
fi
exec ip netns exec "$ns" "$@"
