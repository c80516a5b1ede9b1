# shellcheck shell=bash
# Sourced by the WAN benchmarks (wan-live.sh, wan-whole-vm.sh) once the link is up: RabbitMQ in the source namespace on
# the link address, started as RMQ_NODE (default wanlive), its pid added to PIDS; sets RMQ, RMQ_PASS and BUS, and
# defines listening NS PORT.

# wait_for (infra/lib.sh) logs what it waited for when it gives up: its callers just stop the script.
# shellcheck disable=SC2317  # called by wait_for
listening() { ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q .; }

# ---- RabbitMQ in the source namespace, on the link address --------------------------------------------------------

RMQ=$WORK/rabbitmq
mkdir -p "$RMQ/mnesia" "$RMQ/log"
: >"$RMQ/rabbitmq-env.conf"
echo '[].' >"$RMQ/enabled_plugins"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RMQ/.erlang.cookie"
chmod 400 "$RMQ/.erlang.cookie"
RMQ_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Only the namespace's loopback and its link address exist: listening on the link address is what the
# destination reaches; the broker's user is a private one (guest may log in from loopback only).
printf '%s\n' "listeners.tcp.1 = $WAN_SRC_IP:5672" "loopback_users.guest = true" "log.console = false" \
    "default_user = teleport" "default_pass = $RMQ_PASS" "disk_free_limit.absolute = 50MB" >"$RMQ/rabbitmq.conf"
rmq() {
    "${SRC[@]}" env HOME="$RMQ" RABBITMQ_NODENAME="${RMQ_NODE:-wanlive}@localhost" RABBITMQ_NODE_IP_ADDRESS="$WAN_SRC_IP" \
        RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$RMQ/mnesia" RABBITMQ_LOG_BASE="$RMQ/log" \
        RABBITMQ_CONFIG_FILE="$RMQ/rabbitmq.conf" RABBITMQ_CONF_ENV_FILE="$RMQ/rabbitmq-env.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ/enabled_plugins" RABBITMQ_PID_FILE="$RMQ/broker.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=4369 "$@"
}
log "starting RabbitMQ in $WAN_SRC_NS on $WAN_SRC_IP:5672"
rmq /usr/lib/rabbitmq/bin/rabbitmq-server </dev/null >"$RMQ/log/stdout.log" 2>&1 &
PIDS+=($!)
wait_for "RabbitMQ" 120 listening "$WAN_SRC_NS" 5672 || exit 1
# shellcheck disable=SC2034  # BUS is the sourcing script's
BUS="rabbitmq://teleport:$RMQ_PASS@$WAN_SRC_IP:5672/"
