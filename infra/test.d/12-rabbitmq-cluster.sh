# shellcheck shell=bash
# Sourced by infra/test.sh after 10-rabbitmq.sh (whose package and helpers it uses): a three-node RabbitMQ cluster
# on 127.0.0.1 for the cluster failover test, started only when the run includes the end-to-end tests.
# Exports TELEPORT_RABBITMQ_CLUSTER=amqp://guest:guest@127.0.0.1:PORT1/?nodes=127.0.0.1:PORT2,127.0.0.1:PORT3,
# TELEPORT_RABBITMQ_CLUSTER_{ORCHESTRATOR,STORAGE,HOST,OPERATOR} (each role's own user, as on the single broker),
# and TELEPORT_RABBITMQ_CLUSTER_DIR, which holds `ctl I ARGS...` (rabbitmqctl against node I, 1-3), nI/broker.pid
# (node I's Erlang VM, for a test that kills it), and `ready` once the cluster formed (or `failed`, with the log).
#
# Each node has its own name, AMQP and distribution ports, data and logs; the three share one private epmd and one
# Erlang cookie. The cluster forms in the background while the other hooks and the build run (1.5 to 3 min on a
# loaded 2-core machine, mostly rabbitmqctl calls): the addresses are exported at once and the test waits for
# `ready`. The nodes boot in parallel, each on one scheduler thread that sleeps when idle, then nodes 2 and 3 join
# node 1 with `rabbitmqctl join_cluster`, and the role users are created as on the single broker.

if [[ ${test_target:-Teleport.sln} != Teleport.sln && $test_target != *EndToEnd* ]]; then
    log "the RabbitMQ cluster is for the end-to-end tests only: not started for ${test_target:-Teleport.sln}"
    return 0
fi

_rmqc_bin=/usr/lib/rabbitmq/bin
_rmqc_tmp=${TMPDIR:-/tmp}

# Leftovers of runs killed before they could clean up: their test.sh is gone, the nodes may not be.
for _rmqc_old in "$_rmqc_tmp"/teleport-rmqcluster.*; do
    [[ -d $_rmqc_old && -f $_rmqc_old/owner.pid ]] || continue
    _rmqc_owner=$(cat "$_rmqc_old/owner.pid")
    [[ -r /proc/$_rmqc_owner/cmdline ]] && tr '\0' ' ' <"/proc/$_rmqc_owner/cmdline" | grep -q test.sh && continue
    log "removing a RabbitMQ cluster left by a killed run: $_rmqc_old"
    for _rmqc_pid in "$_rmqc_old"/n*/broker.pid; do
        [[ -f $_rmqc_pid ]] && _rmq_kill_if "$(cat "$_rmqc_pid")" "$_rmqc_old"
    done
    _rmq_kill_epmd "$(cat "$_rmqc_old/epmd.port" 2>/dev/null)"
    rm -rf -- "$_rmqc_old"
done

_rmqc_dir=$(mktemp -d "$_rmqc_tmp/teleport-rmqcluster.XXXXXX")
echo $$ >"$_rmqc_dir/owner.pid"
_rmqc_epmd_port=''
declare -a _rmqc_name _rmqc_port _rmqc_dist
for _rmqc_i in 1 2 3; do
    _rmqc_name[_rmqc_i]="teleport-c$_rmqc_i-$$-${_rmqc_dir##*.}@localhost"
done
# One Erlang cookie for the three nodes and the CLI calls; each node's HOME (its directory) holds a copy.
_rmqc_cookie=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Runs a RabbitMQ command as node $1 of the cluster: 10-rabbitmq.sh's _rmq with this node's directory, name and
# ports in place of the single broker's, and the Erlang VM on one scheduler thread that sleeps when idle.
_rmqc() {
    local i=$1
    shift
    local _rmq_dir=$_rmqc_dir/n$i _rmq_node=${_rmqc_name[i]} _rmq_port=${_rmqc_port[i]} _rmq_dist_port=${_rmqc_dist[i]}
    local _rmq_epmd_port=$_rmqc_epmd_port
    _rmq env RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none" "$@"
}

# Stops the boot, every node (TERM, then KILL: the data is thrown away) and the cluster's epmd.
_rmqc_stop() {
    local i
    log "stopping the RabbitMQ cluster in $_rmqc_dir"
    [[ -n $_rmqc_boot_pid ]] && kill "$_rmqc_boot_pid" 2>/dev/null
    for i in 1 2 3; do
        _rmq_kill_if "$(cat "$_rmqc_dir/n$i/broker.pid" 2>/dev/null)" "$_rmqc_dir"
        # The package's start script, whose Erlang VM is gone by now unless it never started.
        _rmq_kill_if "$(cat "$_rmqc_dir/n$i/wrapper.pid" 2>/dev/null)" rabbitmq-server
    done
    _rmq_kill_epmd "$_rmqc_epmd_port"
    rm -rf -- "$_rmqc_dir"
}
_rmqc_boot_pid=''
on_exit _rmqc_stop

_rmqc_node_ready() {
    _rmqc "$1" "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[$1]}" -q await_startup --timeout 5 &&
        (exec 3<>"/dev/tcp/127.0.0.1/${_rmqc_port[$1]}")
}

_rmqc_all_ready() {
    local i
    for i in 1 2 3; do
        kill -0 "$(cat "$_rmqc_dir/n$i/wrapper.pid")" 2>/dev/null || die "node $i exited while starting (logs in $_rmqc_dir/n$i/log)"
        _rmqc_node_ready "$i" || return 1
    done
}

# Writes node $1's configuration, on free ports chosen here so that no later hook takes them, and away from the
# ports other runs' single brokers count up from (5672, 25672) so that a concurrent run is unlikely to take them
# before the node binds.
_rmqc_configure() {
    local i=$1 d=$_rmqc_dir/n$1
    free_port "_rmqc_port[$i]" "$_rmqc_base"
    free_port "_rmqc_dist[$i]" $((_rmqc_base + 1000))
    mkdir -p "$d/mnesia" "$d/log"
    : >"$d/rabbitmq-env.conf"
    echo '[].' >"$d/enabled_plugins"
    printf '%s' "$_rmqc_cookie" >"$d/.erlang.cookie"
    chmod 400 "$d/.erlang.cookie"
    # A small memory watermark: three nodes idle at ~100 MiB each; the tests' messages are small.
    printf '%s\n' "listeners.tcp.1 = 127.0.0.1:${_rmqc_port[i]}" "loopback_users.guest = true" "log.console = false" \
        "log.file.level = info" "disk_free_limit.absolute = 50MB" "vm_memory_high_watermark.absolute = 768MB" >"$d/rabbitmq.conf"
}

# In the background: boots the nodes, joins them, creates the role users; then `ready`, or `failed`.
_rmqc_boot() {
    local i
    trap '[[ -f $_rmqc_dir/ready ]] || { tail -n 30 "$_rmqc_dir"/n*/log/*.log 2>/dev/null; touch "$_rmqc_dir/failed"; }' EXIT
    _TELEPORT_LOG_FD=2
    for i in 1 2 3; do
        _rmqc "$i" "$_rmqc_bin/rabbitmq-server" </dev/null >"$_rmqc_dir/n$i/log/stdout.log" 2>&1 &
        echo "$!" >"$_rmqc_dir/n$i/wrapper.pid"
    done
    wait_for "three RabbitMQ nodes accepting AMQP" 300 _rmqc_all_ready || die "the nodes did not start"
    for i in 2 3; do
        _rmqc "$i" "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[i]}" -q stop_app >/dev/null
        _rmqc "$i" "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[i]}" -q join_cluster "${_rmqc_name[1]}" >/dev/null
        _rmqc "$i" "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[i]}" -q start_app >/dev/null
    done
    i=$(_rmqc 1 "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[1]}" -q eval 'length(rabbit_nodes:all_running()).')
    [[ $i == 3 ]] || die "the cluster has $i running nodes, not 3"
    # This is a subshell: the passwords stay out of test.sh's environment (and off every command line).
    export "${_rmqc_passwords[@]}"
    _rmqc 1 infra/rabbitmq/bus-users.sh -- "$_rmqc_bin/rabbitmqctl" -n "${_rmqc_name[1]}"
    i=$(IFS='|' && echo "$_rmqc_epmd_port|${_rmqc_port[*]}|${_rmqc_dist[*]}")
    if i=$(ss -Hltnp | grep -E ":($i) " | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]):'); then
        die "the cluster listens beyond loopback: $i"
    fi
    touch "$_rmqc_dir/ready"
    log "RabbitMQ cluster ready"
}

_rmqc_base=$((35672 + RANDOM % 2000))
free_port _rmqc_epmd_port $((_rmqc_base + 2000))
echo "$_rmqc_epmd_port" >"$_rmqc_dir/epmd.port"
for _rmqc_i in 1 2 3; do
    _rmqc_configure "$_rmqc_i"
done

# `ctl I ARGS...`: rabbitmqctl against node I, for the tests (list_queues, cluster_status).
{
    echo '#!/usr/bin/env bash'
    echo 'set -euo pipefail'
    printf 'names=(%q %q %q)\n' "${_rmqc_name[1]}" "${_rmqc_name[2]}" "${_rmqc_name[3]}"
    printf 'export HOME=%q ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=%q RABBITMQ_CTL_ERL_ARGS=%q\n' \
        "$_rmqc_dir/n1" "$_rmqc_epmd_port" "-kernel inet_dist_use_interface {127,0,0,1}"
    # shellcheck disable=SC2016  # written into the script as it stands
    printf 'node=${names[$1 - 1]}\nshift\nexec %q -n "$node" "$@"\n' "$_rmqc_bin/rabbitmqctl"
} >"$_rmqc_dir/ctl"
chmod 755 "$_rmqc_dir/ctl"

_rmqc_others="127.0.0.1:${_rmqc_port[2]},127.0.0.1:${_rmqc_port[3]}"
export TELEPORT_RABBITMQ_CLUSTER="amqp://guest:guest@127.0.0.1:${_rmqc_port[1]}/?nodes=$_rmqc_others"
export TELEPORT_RABBITMQ_CLUSTER_DIR=$_rmqc_dir
_rmqc_passwords=()
for _rmqc_role in ORCHESTRATOR STORAGE HOST OPERATOR; do
    _rmqc_password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    _rmqc_passwords+=("TELEPORT_BUS_PASSWORD_$_rmqc_role=$_rmqc_password")
    export "TELEPORT_RABBITMQ_CLUSTER_$_rmqc_role=amqp://teleport-${_rmqc_role,,}:$_rmqc_password@127.0.0.1:${_rmqc_port[1]}/?nodes=$_rmqc_others"
done
_rmqc_boot >"$_rmqc_dir/boot.log" 2>&1 &
_rmqc_boot_pid=$!
log "RabbitMQ cluster forming in the background on 127.0.0.1:${_rmqc_port[1]},${_rmqc_port[2]},${_rmqc_port[3]} ($_rmqc_dir/boot.log)"
