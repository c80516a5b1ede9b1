#!/usr/bin/env bash
# Emulated WAN link between two network namespaces (docs/wan.md).
#
#   link.sh up [--rate 100mbit] [--delay 25ms] [--loss 0%] [--queue-packets 1000] [--name tp] [--mode auto|netem|tun]
#       creates namespaces NAME-src and NAME-dst joined by the link and prints WAN_* variables for eval
#   link.sh down [--name tp]       removes everything of that link (idempotent, also after a crash)
#   link.sh check [--name tp] [--seconds 5] [--ping-count 10] [--strict]
#       ping round trip and iperf3 rate in both directions, printed (and as WAN_CHECK_* lines)
#   link.sh counters [--name tp]   bytes/packets that entered and left each direction of the link
#   link.sh env [--name tp]        the WAN_* variables of a link that is up
#   link.sh build                  compiles the userspace delay line (cached by source hash), prints its path
#
# The rate, delay, loss and queue apply to each direction. Addresses exist only inside the two namespaces,
# which have no other interface than loopback and the link, and no default route.
set -Eeuo pipefail

WAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WAN_STATE_ROOT=${WAN_STATE_ROOT:-/run/teleport-wan}
WAN_BUILD_DIR=${TELEPORT_WAN_BUILD:-${TMPDIR:-/tmp}/teleport-wan-build}
SRC_IP=10.77.0.1
DST_IP=10.77.0.2
PREFIX_LEN=30
LINK_MTU=1500

say() { printf 'wan: %s\n' "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Installs a missing tool's package (standalone use; infra/test.d/50-wan.sh uses need_packages instead).
need_tool() {
    local tool=$1 pkg=$2
    command -v "$tool" >/dev/null 2>&1 && return 0
    [[ $(id -u) -eq 0 ]] || fail "$tool is missing (Debian package $pkg) and we are not root to install it"
    if [[ -z ${_WAN_APT_UPDATED:-} ]]; then
        say "installing $pkg (apt-get update first)"
        DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null 2>&1 || say "warning: apt-get update failed"
        export _WAN_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "$pkg" >/dev/null 2>&1 \
        || fail "apt-get install $pkg failed"
    command -v "$tool" >/dev/null 2>&1 || fail "$tool still missing after installing $pkg"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || fail "network namespaces and TUN devices need root"
}

check_name() {
    [[ $NAME =~ ^[a-z][a-z0-9]{0,7}$ ]] \
        || fail "--name '$NAME' must be 1-8 lower-case letters/digits starting with a letter (it prefixes device names)"
    SRC_NS=$NAME-src
    DST_NS=$NAME-dst
    SRC_DEV=${NAME}wan0
    DST_DEV=${NAME}wan1
    STATE=$WAN_STATE_ROOT/$NAME
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# ---- the delay line -------------------------------------------------------------------------------

build_delayline() {
    need_tool gcc gcc
    [[ -e /usr/include/linux/if_tun.h ]] || need_tool_pkg_header
    local src=$WAN_DIR/delayline.c hash bin
    hash=$(sha256sum "$src" | cut -c1-16)
    bin=$WAN_BUILD_DIR/delayline-$hash
    if [[ ! -x $bin ]]; then
        mkdir -p "$WAN_BUILD_DIR"
        gcc -O2 -Wall -Wextra -Werror -o "$bin.tmp.$$" "$src" || fail "compiling $src failed"
        mv -f "$bin.tmp.$$" "$bin"
    fi
    DELAYLINE=$bin
}

need_tool_pkg_header() {
    [[ $(id -u) -eq 0 ]] || fail "linux/if_tun.h is missing (Debian package linux-libc-dev)"
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends libc6-dev linux-libc-dev >/dev/null 2>&1 \
        || fail "apt-get install libc6-dev linux-libc-dev failed"
}

# Pids of delay lines serving this link: from the pid file, and by their exact device arguments after a crash
# that lost the state directory.
delayline_pids() {
    local pid cmd
    if [[ -r $STATE/delayline.pid ]]; then
        pid=$(<"$STATE/delayline.pid")
        [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] && echo "$pid"
    fi
    for cmd in /proc/[0-9]*/cmdline; do
        pid=${cmd#/proc/}
        pid=${pid%/cmdline}
        if tr '\0' ' ' 2>/dev/null <"$cmd" | grep -q -- "delayline-[0-9a-f]* --dev0 $SRC_DEV --dev1 $DST_DEV "; then
            echo "$pid"
        fi
    done | sort -u
}

# ---- netem detection ------------------------------------------------------------------------------

have_netem() {
    # Probe on the loopback of our own (already created) source namespace: nothing else is touched.
    ip netns exec "$SRC_NS" tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1 || return 1
    ip netns exec "$SRC_NS" tc qdisc del dev lo root >/dev/null 2>&1 || true
    return 0
}

# ---- up ------------------------------------------------------------------------------------------

up_exit() {
    local rc=$?
    trap - EXIT
    if ((rc != 0)); then
        say "link up failed; tearing down"
        cmd_down || true
    fi
    exit "$rc"
}

cmd_up() {
    need_root
    need_tool ip iproute2
    [[ $RATE =~ ^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit)$ ]] || fail "--rate '$RATE' must look like 100mbit, 1gbit, 512kbit"
    [[ $DELAY =~ ^[0-9]+(\.[0-9]+)?(s|ms|us)$ ]] || fail "--delay '$DELAY' must look like 25ms, 500us, 0.1s"
    [[ $LOSS =~ ^[0-9]+(\.[0-9]+)?%$ ]] || fail "--loss '$LOSS' must look like 0%, 1%, 0.5%"
    [[ $QUEUE =~ ^[1-9][0-9]{0,5}$ ]] || fail "--queue-packets '$QUEUE' must be a whole number from 1 to 999999"
    [[ $MODE =~ ^(auto|netem|tun)$ ]] || fail "--mode '$MODE' must be auto, netem or tun"

    if ns_exists "$SRC_NS" || ns_exists "$DST_NS" || [[ -d $STATE ]]; then
        say "removing what is left of an earlier link '$NAME'"
        cmd_down
    fi
    mkdir -p "$STATE"
    # From here on a failure tears down whatever was created.
    # (set -e turns any failing command into an exit, so the EXIT trap covers failures and fail() alike.)
    trap up_exit EXIT

    local ns
    for ns in "$SRC_NS" "$DST_NS"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        # No IPv6 on the link: no router solicitations or DAD packets in the byte counters.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    done

    local mode=$MODE
    if [[ $mode == auto ]]; then
        if have_netem; then mode=netem; else mode=tun; fi
    elif [[ $mode == netem ]]; then
        have_netem || fail "--mode netem: this kernel has no sch_netem (use --mode tun or auto)"
    fi

    if [[ $mode == netem ]]; then
        # A veth pair created directly inside the two namespaces: it never exists in the root namespace.
        ip link add "$SRC_DEV" netns "$SRC_NS" type veth peer name "$DST_DEV" netns "$DST_NS"
        ip netns exec "$SRC_NS" tc qdisc add dev "$SRC_DEV" root netem delay "$DELAY" rate "$RATE" loss "$LOSS" limit "$QUEUE"
        ip netns exec "$DST_NS" tc qdisc add dev "$DST_DEV" root netem delay "$DELAY" rate "$RATE" loss "$LOSS" limit "$QUEUE"
    else
        [[ -c /dev/net/tun ]] || fail "/dev/net/tun is missing: the userspace delay line needs TUN devices"
        build_delayline
        rm -f "$STATE/ready"
        # setsid: the delay line must outlive this script and not get the caller's terminal signals.
        setsid "$DELAYLINE" --dev0 "$SRC_DEV" --dev1 "$DST_DEV" --rate "$RATE" --delay "$DELAY" --loss "$LOSS" \
            --queue-packets "$QUEUE" --mtu "$LINK_MTU" --stats "$STATE/stats" --ready "$STATE/ready" \
            </dev/null >"$STATE/delayline.log" 2>&1 &
        local pid=$!
        echo "$pid" >"$STATE/delayline.pid"
        local i
        for ((i = 0; i < 100; i++)); do
            [[ -s $STATE/ready ]] && break
            kill -0 "$pid" 2>/dev/null || fail "delay line exited: $(cat "$STATE/delayline.log")"
            sleep 0.05
        done
        [[ -s $STATE/ready ]] || fail "delay line did not start within 5 s: $(cat "$STATE/delayline.log")"
        # The descriptors stay valid after the move; the devices vanish when the delay line exits.
        ip link set "$SRC_DEV" netns "$SRC_NS"
        ip link set "$DST_DEV" netns "$DST_NS"
    fi

    ip -n "$SRC_NS" addr add "$SRC_IP/$PREFIX_LEN" dev "$SRC_DEV"
    ip -n "$DST_NS" addr add "$DST_IP/$PREFIX_LEN" dev "$DST_DEV"
    ip -n "$SRC_NS" link set "$SRC_DEV" mtu "$LINK_MTU" txqueuelen 1000 up
    ip -n "$DST_NS" link set "$DST_DEV" mtu "$LINK_MTU" txqueuelen 1000 up

    cat >"$STATE/env" <<EOF
WAN_NAME=$NAME
WAN_MODE=$mode
WAN_SRC_NS=$SRC_NS
WAN_DST_NS=$DST_NS
WAN_SRC_IP=$SRC_IP
WAN_DST_IP=$DST_IP
WAN_SRC_DEV=$SRC_DEV
WAN_DST_DEV=$DST_DEV
WAN_RATE=$RATE
WAN_DELAY=$DELAY
WAN_LOSS=$LOSS
WAN_QUEUE_PACKETS=$QUEUE
WAN_DIR=$WAN_DIR
EOF
    trap - EXIT
    say "link '$NAME' up ($mode): $SRC_NS $SRC_IP <-> $DST_NS $DST_IP, $RATE, $DELAY each way, loss $LOSS, queue $QUEUE packets"
    sed 's/^/export /' "$STATE/env"
}

# ---- down ----------------------------------------------------------------------------------------

kill_and_wait() {
    local pids=("$@") p i
    ((${#pids[@]} > 0)) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        local alive=()
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
        ((${#alive[@]} == 0)) && return 0
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
    sleep 0.2
}

cmd_down() {
    need_root
    local ns pids=() left=()
    # Processes still running inside our namespaces (servers a benchmark started) would keep them alive.
    for ns in "$SRC_NS" "$DST_NS"; do
        ns_exists "$ns" || continue
        mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null)
    done
    kill_and_wait "${pids[@]}"
    pids=()
    mapfile -t pids < <(delayline_pids)
    kill_and_wait "${pids[@]}"
    for ns in "$SRC_NS" "$DST_NS"; do
        ns_exists "$ns" && ip netns del "$ns"
    done
    # Devices can only be left in the root namespace if a crash hit between creation and the move.
    local dev
    for dev in "$SRC_DEV" "$DST_DEV"; do
        ip link show "$dev" >/dev/null 2>&1 && ip link del "$dev" 2>/dev/null
    done
    rm -rf "$STATE"

    for ns in "$SRC_NS" "$DST_NS"; do ns_exists "$ns" && left+=("namespace $ns"); done
    for dev in "$SRC_DEV" "$DST_DEV"; do ip link show "$dev" >/dev/null 2>&1 && left+=("device $dev"); done
    [[ -z $(delayline_pids) ]] || left+=("delay line process")
    ((${#left[@]} == 0)) || fail "could not remove: ${left[*]}"
    return 0
}

# ---- env / counters / check -----------------------------------------------------------------------

load_env() {
    [[ -r $STATE/env ]] || fail "link '$NAME' is not up (no $STATE/env); run: link.sh up --name $NAME"
    # shellcheck disable=SC1091
    source "$STATE/env"
    if ! ns_exists "$WAN_SRC_NS" || ! ns_exists "$WAN_DST_NS"; then
        fail "link '$NAME' is broken (namespaces missing); run link.sh down"
    fi
}

dev_stat() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }

# Asks the delay line for fresh counters and waits until it has written them.
fresh_stats() {
    local pid seq0 seq i
    pid=$(<"$STATE/delayline.pid")
    kill -0 "$pid" 2>/dev/null || fail "the delay line (pid $pid) is not running: $(tail -n 5 "$STATE/delayline.log")"
    seq0=$(sed -n 's/^seq=//p' "$STATE/stats")
    kill -USR1 "$pid"
    for ((i = 0; i < 100; i++)); do
        seq=$(sed -n 's/^seq=//p' "$STATE/stats" 2>/dev/null || true)
        [[ -n $seq && $seq != "$seq0" ]] && return 0
        sleep 0.02
    done
    fail "the delay line did not refresh its counters"
}

cmd_counters() {
    need_root
    load_env
    # Bytes are IP packet bytes (no link-layer framing). ENTERED: what the sending side put on the link;
    # DELIVERED: what came out at the far end. The difference was lost or dropped in the queue (or is in flight).
    echo "WAN_S2D_BYTES=$(dev_stat "$WAN_SRC_NS" "$WAN_SRC_DEV" tx_bytes)"
    echo "WAN_S2D_PACKETS=$(dev_stat "$WAN_SRC_NS" "$WAN_SRC_DEV" tx_packets)"
    echo "WAN_S2D_DELIVERED_BYTES=$(dev_stat "$WAN_DST_NS" "$WAN_DST_DEV" rx_bytes)"
    echo "WAN_S2D_DELIVERED_PACKETS=$(dev_stat "$WAN_DST_NS" "$WAN_DST_DEV" rx_packets)"
    echo "WAN_D2S_BYTES=$(dev_stat "$WAN_DST_NS" "$WAN_DST_DEV" tx_bytes)"
    echo "WAN_D2S_PACKETS=$(dev_stat "$WAN_DST_NS" "$WAN_DST_DEV" tx_packets)"
    echo "WAN_D2S_DELIVERED_BYTES=$(dev_stat "$WAN_SRC_NS" "$WAN_SRC_DEV" rx_bytes)"
    echo "WAN_D2S_DELIVERED_PACKETS=$(dev_stat "$WAN_SRC_NS" "$WAN_SRC_DEV" rx_packets)"
    if [[ $WAN_MODE == tun ]]; then
        fresh_stats
        local d D
        for d in fwd rev; do
            [[ $d == fwd ]] && D=S2D || D=D2S
            sed -n "s/^${d}_drop_queue=/WAN_${D}_DROP_QUEUE=/p; s/^${d}_drop_loss=/WAN_${D}_DROP_LOSS=/p; s/^${d}_queued=/WAN_${D}_IN_FLIGHT=/p" "$STATE/stats"
        done
    else
        local ns dev D
        for D in S2D D2S; do
            if [[ $D == S2D ]]; then ns=$WAN_SRC_NS dev=$WAN_SRC_DEV; else ns=$WAN_DST_NS dev=$WAN_DST_DEV; fi
            # netem counts random loss and queue overflow together as qdisc drops.
            echo "WAN_${D}_DROP_QUEUE=$(ip netns exec "$ns" tc -s qdisc show dev "$dev" | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -n1)"
        done
    fi
}

# iperf3 receiver-side rate in Mbit/s, one direction ($1 empty or -R), against a fresh one-off server: reusing
# one server for the reverse run right after the forward run races its reset (connection reset by peer).
iperf_rate() {
    local json="" spid i try
    for try in 1 2; do
        ip netns exec "$WAN_DST_NS" iperf3 -s -1 -B "$WAN_DST_IP" -p "$IPERF_PORT" >"$STATE/iperf3-server.log" 2>&1 &
        spid=$!
        for ((i = 0; i < 100; i++)); do
            ip netns exec "$WAN_DST_NS" ss -Hltn "sport = :$IPERF_PORT" | grep -q . && break
            kill -0 "$spid" 2>/dev/null || fail "iperf3 server did not start: $(cat "$STATE/iperf3-server.log")"
            sleep 0.05
        done
        if json=$(ip netns exec "$WAN_SRC_NS" iperf3 -c "$WAN_DST_IP" -p "$IPERF_PORT" -t "$SECONDS_ARG" -O 1 -J ${1:+"$1"} 2>&1) &&
            jq -e '.end.sum_received.bits_per_second' <<<"$json" >/dev/null 2>&1; then
            wait "$spid" 2>/dev/null || true
            jq -r '.end.sum_received.bits_per_second / 1e6 | . * 100 | round / 100' <<<"$json"
            return 0
        fi
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
        say "iperf3 ${1:+(reverse) }attempt $try failed: $(jq -r '.error // empty' <<<"$json" 2>/dev/null || tail -n 3 <<<"$json")"
    done
    fail "iperf3 ${1:+(reverse) }failed twice"
}

cmd_check() {
    need_root
    need_tool ping iputils-ping
    need_tool iperf3 iperf3
    need_tool jq jq
    load_env
    [[ $SECONDS_ARG =~ ^[1-9][0-9]?$ ]] || fail "--seconds '$SECONDS_ARG' must be 1-99"
    [[ $PING_COUNT =~ ^[1-9][0-9]{0,3}$ ]] || fail "--ping-count '$PING_COUNT' must be 1-9999"

    local out rtt loss
    out=$(ip netns exec "$WAN_SRC_NS" ping -n -q -c "$PING_COUNT" -i 0.2 -W 2 "$WAN_DST_IP" 2>&1) || true
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$out")
    rtt=$(sed -n 's|^rtt min/avg/max/mdev = \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\) ms|\1 \2 \3 \4|p' <<<"$out")
    [[ -n $rtt ]] || fail "ping $WAN_DST_IP from $WAN_SRC_NS got no reply: $out"
    local rmin ravg rmax rmdev
    read -r rmin ravg rmax rmdev <<<"$rtt"

    IPERF_PORT=5201
    local s2d d2s
    s2d=$(iperf_rate "")
    d2s=$(iperf_rate -R)

    say "link '$NAME' ($WAN_MODE, $WAN_RATE, $WAN_DELAY each way, loss $WAN_LOSS):"
    say "  ping $PING_COUNT: rtt min/avg/max/mdev $rmin/$ravg/$rmax/$rmdev ms, loss $loss%"
    say "  iperf3 ${SECONDS_ARG}s TCP: src->dst $s2d Mbit/s, dst->src $d2s Mbit/s"
    echo "WAN_CHECK_RTT_AVG_MS=$ravg"
    echo "WAN_CHECK_RTT_MIN_MS=$rmin"
    echo "WAN_CHECK_RTT_MAX_MS=$rmax"
    echo "WAN_CHECK_PING_LOSS_PCT=$loss"
    echo "WAN_CHECK_S2D_MBIT=$s2d"
    echo "WAN_CHECK_D2S_MBIT=$d2s"

    if [[ -n $STRICT ]]; then
        # Against the configured link: RTT = 2 x delay (+ up to 20 ms), TCP rate 85-100% of the line rate.
        local delay_ms rate_mbit
        delay_ms=$(awk -v d="$WAN_DELAY" 'BEGIN{v=d+0; if (d ~ /us$/) v/=1000; else if (d ~ /ms$/) v+=0; else v*=1000; print v}')
        rate_mbit=$(awk -v r="$WAN_RATE" 'BEGIN{v=r+0; if (r ~ /gbit$/) v*=1000; else if (r ~ /mbit$/) v+=0; else if (r ~ /kbit$/) v/=1000; else v/=1e6; print v}')
        awk -v a="$ravg" -v d="$delay_ms" 'BEGIN{exit !(a >= 2*d*0.95 && a <= 2*d + 20)}' \
            || fail "strict: rtt $ravg ms is not about $((${delay_ms%.*} * 2)) ms"
        awk -v s="$s2d" -v t="$d2s" -v r="$rate_mbit" 'BEGIN{exit !(s >= 0.85*r && s <= r && t >= 0.85*r && t <= r)}' \
            || fail "strict: rates $s2d / $d2s Mbit/s are not 85-100% of $rate_mbit Mbit/s"
        say "  strict check passed"
    fi
}

# ---- main ----------------------------------------------------------------------------------------

[[ $# -ge 1 ]] || usage
command=$1
shift
NAME=${WAN_NAME:-tp}
RATE=100mbit DELAY=25ms LOSS=0% QUEUE=1000 MODE=${WAN_MODE_REQUEST:-auto}
SECONDS_ARG=5 PING_COUNT=10 STRICT=
while [[ $# -gt 0 ]]; do
    case $1 in
        --name) NAME=${2:?--name needs a value}; shift 2 ;;
        --rate) RATE=${2:?--rate needs a value}; shift 2 ;;
        --delay) DELAY=${2:?--delay needs a value}; shift 2 ;;
        --loss) LOSS=${2:?--loss needs a value}; [[ $LOSS == *% ]] || LOSS=$LOSS%; shift 2 ;;
        --queue-packets) QUEUE=${2:?--queue-packets needs a value}; shift 2 ;;
        --mode) MODE=${2:?--mode needs a value}; shift 2 ;;
        --seconds) SECONDS_ARG=${2:?--seconds needs a value}; shift 2 ;;
        --ping-count) PING_COUNT=${2:?--ping-count needs a value}; shift 2 ;;
        --strict) STRICT=1; shift ;;
        -h | --help) usage ;;
        *) fail "unknown argument '$1' (see link.sh --help)" ;;
    esac
done
check_name

case $command in
    up) cmd_up ;;
    down) cmd_down; say "link '$NAME' is down" ;;
    check) cmd_check ;;
    counters) cmd_counters ;;
    env) load_env; sed 's/^/export /' "$STATE/env" ;;
    build) build_delayline; echo "$DELAYLINE" ;;
    -h | --help | help) usage ;;
    *) fail "unknown command '$command' (up, down, check, counters, env, build)" ;;
esac
