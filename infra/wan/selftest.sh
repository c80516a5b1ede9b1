#!/usr/bin/env bash
# Self-test of the WAN emulation (docs/wan.md). Needs root. Takes about 40 s; exits non-zero on any failure.
#   1. argument validation: bad options fail clearly and leave nothing behind
#   2. default link (100mbit, 25ms each way): ping RTT 45-70 ms, iperf3 TCP 85-100 Mbit/s each way,
#      the byte counters agree with the traffic; delay-line CPU use is reported
#   3. 1% loss link: loss is observed (UDP iperf3 loss 0.2-3%, delay-line loss counters > 0 each way)
#   4. with-link.sh: the command sees the WAN_* variables, its exit status is passed on, the link is removed
#   5. crash recovery: delay line killed, state directory lost, a process left in a namespace -> down cleans up
#   6. nothing is left: no namespaces, no devices, no delay-line or namespace processes, no state
#   7. blockcopy.py (the benchmark's raw and zero-skipping copies): equal copies, zero blocks skipped, a record
#      outside the image and a truncated stream rejected with clear errors
# shellcheck disable=SC2015,SC2016  # ok() always succeeds; the bash -c script expands in the inner shell
set -Eeuo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAME=tpst
export WAN_NAME=$NAME
link=$here/link.sh
start=$SECONDS
failures=0

say() { printf '[wan selftest %3ds] %s\n' $((SECONDS - start)) "$*"; }
bad() { say "FAIL: $*"; failures=$((failures + 1)); }
ok() { say "ok: $*"; }
in_range() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN{exit !(v != "" && v >= lo && v <= hi)}'; }

cleanup() { "$link" down --name "$NAME" >/dev/null 2>&1 || true; }
trap 'cleanup' EXIT
[[ $(id -u) -eq 0 ]] || { echo "selftest.sh needs root (network namespaces, TUN devices)" >&2; exit 1; }

leftovers() {
    local found=() ns dev cmd
    for ns in "$NAME-src" "$NAME-dst"; do
        ip netns list | awk '{print $1}' | grep -qx -- "$ns" && found+=("namespace $ns")
    done
    for dev in "${NAME}wan0" "${NAME}wan1"; do
        ip link show "$dev" >/dev/null 2>&1 && found+=("device $dev")
    done
    for cmd in /proc/[0-9]*/cmdline; do
        tr '\0' ' ' 2>/dev/null <"$cmd" | grep -q -- "delayline-[0-9a-f]* --dev0 ${NAME}wan0 " && found+=("delay line ${cmd%/cmdline}")
    done
    [[ -e /run/teleport-wan/$NAME ]] && found+=("state /run/teleport-wan/$NAME")
    echo "${found[*]}"
}

expect_clean() {
    local left
    left=$(leftovers)
    if [[ -z $left ]]; then ok "nothing left after $1"; else bad "left after $1: $left"; fi
}

kv() { sed -n "s/^$1=//p" <<<"$2" | tail -n1; }

"$link" down >/dev/null 2>&1 || true

# ---- 1. argument validation ----
for args in "--rate 100" "--rate fast" "--delay 25" "--loss x" "--queue-packets 0" "--mode wrong" "--name Bad-Name"; do
    # shellcheck disable=SC2086
    if err=$("$link" up $args 2>&1 >/dev/null); then
        bad "link.sh up $args was accepted"
    elif [[ $err != *ERROR:* ]]; then
        bad "link.sh up $args failed without a clear error: $err"
    fi
done
dl_err=$(gcc -O2 -Wall -Wextra -Werror -o /tmp/teleport-wan-selftest-dl "$here/delayline.c" 2>&1 &&
    /tmp/teleport-wan-selftest-dl --dev0 a --dev1 b --rate 1mbit --delay 5parsecs 2>&1) || true
rm -f /tmp/teleport-wan-selftest-dl
[[ $dl_err == *"unknown unit"* ]] && ok "bad arguments rejected with clear errors" || bad "delayline accepted a bad --delay: $dl_err"
expect_clean "rejected arguments"

# ---- 2. default link ----
say "bringing up the default link"
env_text=$("$link" up) || { bad "link.sh up failed"; exit 1; }
eval "$env_text"
[[ $WAN_SRC_NS == "$NAME-src" && $WAN_DST_NS == "$NAME-dst" && $WAN_SRC_IP == 10.77.0.1 && $WAN_DST_IP == 10.77.0.2 ]] \
    && ok "env printed ($WAN_MODE mode)" || bad "unexpected env: $env_text"
# Only loopback and the link inside; no default route; nothing else reachable.
for ns in "$WAN_SRC_NS" "$WAN_DST_NS"; do
    devs=$(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
    routes=$(ip -n "$ns" route show)
    [[ $devs == "lo ${NAME}wan"[01]" " ]] || bad "$ns has devices: $devs"
    [[ $routes != *default* ]] || bad "$ns has a default route: $routes"
done
ip netns exec "$WAN_SRC_NS" ping -c1 -W1 192.0.2.1 >/dev/null 2>&1 && bad "an outside address is reachable from $WAN_SRC_NS"
ok "namespaces hold only lo and the link, no default route"

pid=
[[ $WAN_MODE == tun ]] && pid=$(<"/run/teleport-wan/$NAME/delayline.pid")
before=$("$link" counters)
cpu0=0
[[ -n $pid ]] && cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
t0=$(date +%s.%N)
check=$("$link" check --seconds 5 --ping-count 10) || { bad "link.sh check failed"; check=; }
t1=$(date +%s.%N)
if [[ -n $pid ]]; then
    cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    cpu_pct=$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" \
        'BEGIN{printf "%.1f", (b - a) / hz / (t1 - t0) * 100}')
fi
after=$("$link" counters)
rtt=$(kv WAN_CHECK_RTT_AVG_MS "$check")
s2d=$(kv WAN_CHECK_S2D_MBIT "$check")
d2s=$(kv WAN_CHECK_D2S_MBIT "$check")
in_range "$rtt" 45 70 && ok "rtt $rtt ms (45-70)" || bad "rtt '$rtt' ms outside 45-70"
in_range "$s2d" 85 100 && ok "src->dst $s2d Mbit/s (85-100)" || bad "src->dst '$s2d' Mbit/s outside 85-100"
in_range "$d2s" 85 100 && ok "dst->src $d2s Mbit/s (85-100)" || bad "dst->src '$d2s' Mbit/s outside 85-100"
[[ -n $pid ]] && say "delay line CPU during the check (ping 2 s + 2 x iperf3 ~6 s): $cpu_pct% of one core"
# Each 5 s TCP run (plus 1 s omitted at the start) puts about rate x 6 s on the link one way; the other way carries
# the other run's data plus ACKs.
sent=$(($(kv WAN_S2D_BYTES "$after") - $(kv WAN_S2D_BYTES "$before")))
back=$(($(kv WAN_D2S_BYTES "$after") - $(kv WAN_D2S_BYTES "$before")))
exp_s=$(awk -v r="$s2d" 'BEGIN{printf "%d", r * 1e6 / 8 * 6}')
exp_b=$(awk -v r="$d2s" 'BEGIN{printf "%d", r * 1e6 / 8 * 6}')
in_range "$sent" "$((exp_s * 9 / 10))" "$((exp_s * 13 / 10))" && in_range "$back" "$((exp_b * 9 / 10))" "$((exp_b * 13 / 10))" \
    && ok "counters: $sent bytes src->dst (expected ~$exp_s), $back bytes dst->src (~$exp_b) during the check" \
    || bad "counters implausible: $sent bytes src->dst (expected ~$exp_s), $back dst->src (~$exp_b)"
sleep 0.2
idle=$("$link" counters)
# Once idle, every packet that entered the link was delivered or counted as dropped (TCP slow start can
# overflow the tail-drop queue: that is the emulated router doing its job).
for D in S2D D2S; do
    entered=$(kv "WAN_${D}_PACKETS" "$idle")
    delivered=$(kv "WAN_${D}_DELIVERED_PACKETS" "$idle")
    dq=$(kv "WAN_${D}_DROP_QUEUE" "$idle")
    dl=$(kv "WAN_${D}_DROP_LOSS" "$idle")
    dropped=$((${dq:-0} + ${dl:-0}))
    # With netem the interface counts only what left the qdisc: its drops never reach the counters.
    [[ $WAN_MODE == netem ]] && dropped=0
    ((entered == delivered + dropped)) && ok "$D: $entered packets entered = $delivered delivered + $dropped dropped (queue overflow)" \
        || bad "$D: $entered packets entered != $delivered delivered + $dropped dropped"
done
"$link" down >/dev/null
expect_clean "link.sh down"

# ---- 3. loss ----
say "bringing up a 1% loss link"
eval "$("$link" up --loss 1%)"
ping_out=$(ip netns exec "$WAN_SRC_NS" ping -n -q -c 200 -i 0.01 -W 1 "$WAN_DST_IP" 2>&1 || true)
ping_loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' <<<"$ping_out")
# UDP at a fixed rate each way: TCP would back off, UDP shows the loss rate directly (expected ~1%).
udp_run() {
    local srv i out
    ip netns exec "$WAN_DST_NS" iperf3 -s -B "$WAN_DST_IP" -1 >/dev/null 2>&1 &
    srv=$!
    for ((i = 0; i < 100; i++)); do ip netns exec "$WAN_DST_NS" ss -Hltn "sport = :5201" | grep -q . && break; sleep 0.05; done
    out=$(ip netns exec "$WAN_SRC_NS" iperf3 -c "$WAN_DST_IP" -u -b 20M -t 2 -J "$@" 2>&1) || true
    wait "$srv" || true
    jq -r '"\(.end.sum.lost_percent) \(.end.sum.packets)"' <<<"$out" 2>/dev/null || echo "error: $out"
}
for dir in s2d d2s; do
    if [[ $dir == s2d ]]; then read -r udp_loss udp_pkts < <(udp_run); else read -r udp_loss udp_pkts < <(udp_run -R); fi
    in_range "$udp_loss" 0.2 3 && ok "$dir UDP loss $udp_loss% of $udp_pkts packets (0.2-3%)" \
        || bad "$dir UDP loss '$udp_loss'% of '$udp_pkts' packets outside 0.2-3%"
done
say "ping loss $ping_loss% of 200 round trips (expected ~2%)"
if [[ $WAN_MODE == tun ]]; then
    c=$("$link" counters)
    l1=$(kv WAN_S2D_DROP_LOSS "$c")
    l2=$(kv WAN_D2S_DROP_LOSS "$c")
    ((l1 > 0 && l2 > 0)) && ok "delay line counted losses: $l1 src->dst, $l2 dst->src" || bad "loss counters: $l1 / $l2"
fi
"$link" down >/dev/null
expect_clean "the loss link"

# ---- 4. with-link.sh ----
out=$("$here/with-link.sh" --name "$NAME" --no-check -- bash -c \
    'ip netns exec "$WAN_SRC_NS" ping -c1 -W2 "$WAN_DST_IP" >/dev/null && "'"$here"'/run-in.sh" dst ip -br addr show dev "$WAN_DST_DEV"' 2>/dev/null) \
    && [[ $out == *10.77.0.2/30* ]] && ok "with-link.sh ran the command inside the link" || bad "with-link.sh: '$out'"
expect_clean "with-link.sh"
rc=0
"$here/with-link.sh" --name "$NAME" --no-check -- bash -c 'exit 7' >/dev/null 2>&1 || rc=$?
((rc == 7)) && ok "with-link.sh passed on exit status 7" || bad "with-link.sh returned $rc instead of 7"
expect_clean "a failing command under with-link.sh"

# ---- 5. crash recovery ----
eval "$("$link" up 2>/dev/null)"
ip netns exec "$WAN_DST_NS" sleep 600 &
sleeper=$!
[[ $WAN_MODE == tun ]] && kill -KILL "$(<"/run/teleport-wan/$NAME/delayline.pid")"
rm -rf "/run/teleport-wan/$NAME"
"$link" down >/dev/null 2>&1 || bad "link.sh down failed after a crash"
wait "$sleeper" 2>/dev/null || true
kill -0 "$sleeper" 2>/dev/null && bad "a process in the namespace survived link.sh down"
expect_clean "a crash (delay line killed, state lost, process left in a namespace)"
"$link" down >/dev/null 2>&1 && ok "link.sh down is idempotent" || bad "a second link.sh down failed"

# ---- 7. blockcopy.py (the benchmark's raw and zero-skipping copies), on 127.0.0.1 ----
bc=$(mktemp -d)
python3 - "$bc/img" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:  # data, a zero hole, data, a partial last block
    f.write(b"\x5a" * 10000 + bytes(1 << 20) + bytes(range(256)) * 4096 + b"tail")
PY
bc_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
bc_wait() { for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.05; done; return 1; }
for mode in raw skip-zero; do
    port=$(bc_port)
    python3 "$here/blockcopy.py" recv --listen "127.0.0.1:$port" --out "$bc/out-$mode" >"$bc/recv.json" 2>&1 &
    rpid=$!
    bc_wait "$port"
    extra=()
    [[ $mode == skip-zero ]] && extra=(--skip-zero)
    sent=$(python3 "$here/blockcopy.py" send --to "127.0.0.1:$port" --file "$bc/img" "${extra[@]}" | jq -r .dataBytes)
    wait "$rpid" && cmp -s "$bc/img" "$bc/out-$mode" && ok "blockcopy $mode: equal copy, $sent data bytes" || bad "blockcopy $mode: copy differs or failed"
done
# 2,107,156 bytes; the hole covers the whole 4 KiB blocks 3-257 (255 blocks): those and only those are skipped.
[[ $sent == $((2107156 - 255 * 4096)) ]] && ok "blockcopy --skip-zero skipped exactly the zero blocks" \
    || bad "blockcopy --skip-zero sent $sent bytes, expected $((2107156 - 255 * 4096))"
port=$(bc_port)
rc=0
python3 "$here/blockcopy.py" recv --listen "127.0.0.1:$port" --out "$bc/bad" >"$bc/bad.log" 2>&1 &
rpid=$!
bc_wait "$port"
python3 -c 'import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">4sBxxxQ", b"TPBC", 1, 8192) + struct.pack(">QI", 8000, 4096) + bytes(4096))' "$port"
wait "$rpid" || rc=$?
((rc == 1)) && grep -q "outside the 8192-byte image" "$bc/bad.log" && ok "blockcopy rejects a record outside the image" \
    || bad "blockcopy accepted a record outside the image (exit $rc): $(cat "$bc/bad.log")"
port=$(bc_port)
rc=0
python3 "$here/blockcopy.py" recv --listen "127.0.0.1:$port" --out "$bc/short" >"$bc/short.log" 2>&1 &
rpid=$!
bc_wait "$port"
python3 -c 'import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">4sBxxxQ", b"TPBC", 0, 8192) + bytes(100))' "$port"
wait "$rpid" || rc=$?
((rc == 1)) && grep -q "connection closed after 100 of 8192 bytes" "$bc/short.log" && ok "blockcopy rejects a truncated stream" \
    || bad "blockcopy accepted a truncated stream (exit $rc): $(cat "$bc/short.log")"
rm -rf "$bc"

say "done in $((SECONDS - start)) s: $failures failure(s)"
((failures == 0))
