# shellcheck shell=bash
# Sourced by infra/test.sh: a private RabbitMQ broker for this run, reachable on 127.0.0.1 only.
# Exports TELEPORT_RABBITMQ=amqp://guest:guest@127.0.0.1:PORT/ (guest may log in from loopback only);
# TELEPORT_RABBITMQ_{ORCHESTRATOR,STORAGE,HOST,OPERATOR}, the same broker as each role's own user with only its
# permissions (infra/rabbitmq/bus-users.sh); TELEPORT_RABBITMQ_TLS=amqps://guest:guest@127.0.0.1:TLSPORT/?ca=FILE,
# a TLS listener whose certificate (for 127.0.0.1 and localhost) a CA made here signed; and
# TELEPORT_RABBITMQ_OTHER_CA, a second CA that signed nothing the broker uses.
#
# Debian's rabbitmq-server package, run as root straight from /usr/lib/rabbitmq/bin (the /usr/sbin wrappers
# switch to the rabbitmq user and its /var/lib/rabbitmq), with its own epmd, node name, ports, cookie, data,
# logs and config in a throwaway directory. No systemd; a packaged broker is never used.

need_packages rabbitmq-server iproute2 procps openssl

_rmq_bin=/usr/lib/rabbitmq/bin
_rmq_tmp=${TMPDIR:-/tmp}

# Runs a RabbitMQ or Erlang command with this run's environment (the variables stay out of test.sh's own).
_rmq() {
    env HOME="$_rmq_dir" \
        RABBITMQ_NODENAME="$_rmq_node" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$_rmq_port" \
        RABBITMQ_DIST_PORT="$_rmq_dist_port" \
        RABBITMQ_MNESIA_BASE="$_rmq_dir/mnesia" \
        RABBITMQ_LOG_BASE="$_rmq_dir/log" \
        RABBITMQ_CONFIG_FILE="$_rmq_dir/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$_rmq_dir/advanced.config" \
        RABBITMQ_CONF_ENV_FILE="$_rmq_dir/rabbitmq-env.conf" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$_rmq_dir/enabled_plugins" \
        RABBITMQ_PID_FILE="$_rmq_dir/broker.pid" \
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        ERL_EPMD_PORT="$_rmq_epmd_port" \
        "$@"
}

# Kills pid $1 if its command line mentions $2 (so a recycled pid is never hit): TERM, then KILL.
_rmq_kill_if() {
    local pid=$1 mark=$2 i
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$mark" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops the epmd listening on 127.0.0.1:$1 (ours: it was started on that private port by our broker).
_rmq_kill_epmd() {
    local port=$1 pid
    [[ $port =~ ^[0-9]+$ ]] || return 0
    for pid in $(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == epmd ]] && _rmq_kill_if "$pid" epmd
    done
}

# Leftovers of runs that were killed before they could clean up: their test.sh is gone, the broker may not be.
for _rmq_old in "$_rmq_tmp"/teleport-rabbitmq.*; do
    [[ -d $_rmq_old && -f $_rmq_old/owner.pid ]] || continue
    _rmq_owner=$(cat "$_rmq_old/owner.pid")
    [[ -r /proc/$_rmq_owner/cmdline ]] && tr '\0' ' ' <"/proc/$_rmq_owner/cmdline" | grep -q test.sh && continue
    log "removing a RabbitMQ left by a killed run: $_rmq_old"
    _rmq_kill_if "$(cat "$_rmq_old/broker.pid" 2>/dev/null)" "$_rmq_old"
    _rmq_kill_epmd "$(cat "$_rmq_old/epmd.port" 2>/dev/null)"
    rm -rf -- "$_rmq_old"
done

# The package's postinst starts its service where no policy-rc.d forbids it (need_packages installs with one,
# but a machine may have installed the package earlier): such a broker listens on every address. Stop it.
for _rmq_old in $(pgrep -u rabbitmq beam.smp 2>/dev/null || true); do
    log "warning: stopping the packaged rabbitmq-server (pid $_rmq_old): tests use a private loopback broker"
    [[ -x /etc/init.d/rabbitmq-server ]] && /etc/init.d/rabbitmq-server stop >/dev/null 2>&1
    _rmq_kill_if "$_rmq_old" rabbit
done

_rmq_dir=$(mktemp -d "$_rmq_tmp/teleport-rabbitmq.XXXXXX")
echo $$ >"$_rmq_dir/owner.pid"
_rmq_node="teleport-test-$$-${_rmq_dir##*.}@localhost"
_rmq_pid='' _rmq_port='' _rmq_tls_port='' _rmq_dist_port='' _rmq_epmd_port=''
: >"$_rmq_dir/rabbitmq-env.conf"
echo '[].' >"$_rmq_dir/enabled_plugins"
# The cookie lives in HOME (= this directory): the broker and our CLI calls share it, nothing else does.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$_rmq_dir/.erlang.cookie"
chmod 400 "$_rmq_dir/.erlang.cookie"

# A CA for the broker's TLS listener, its server certificate (127.0.0.1 and localhost), and a second CA whose
# trust must not let a client accept the broker.
_rmq_certificates() {
    local tls=$_rmq_dir/tls ca
    mkdir -p "$tls"
    (
        cd "$tls" || exit 1
        umask 077
        for ca in ca other-ca; do
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
                -subj "/CN=Teleport test $ca" -keyout "$ca-key.pem" -out "$ca-cert.pem" 2>/dev/null
        done
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
            -keyout server-key.pem -out server.csr 2>/dev/null
        printf '%s\n' 'subjectAltName = IP:127.0.0.1, DNS:localhost' 'extendedKeyUsage = serverAuth' >server.ext
        openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
            -extfile server.ext -out server-cert.pem 2>/dev/null
        chmod 644 ./*-cert.pem
    )
}
_rmq_certificates

_rmq_stop() {
    log "stopping RabbitMQ $_rmq_node"
    [[ -n $_rmq_pid ]] && kill -0 "$_rmq_pid" 2>/dev/null &&
        _rmq timeout 60 "$_rmq_bin/rabbitmqctl" -n "$_rmq_node" -q stop >/dev/null 2>&1
    _rmq_stop_attempt
    rm -rf -- "$_rmq_dir"
}
on_exit _rmq_stop

# Kills this run's broker and epmd, if running (after a graceful stop, or a failed start).
_rmq_stop_attempt() {
    [[ -n $_rmq_pid ]] && _rmq_kill_if "$_rmq_pid" "$_rmq_dir"
    [[ -n $_rmq_epmd_port ]] && _rmq_kill_epmd "$_rmq_epmd_port"
    _rmq_pid=
}

_rmq_ready() {
    if ! kill -0 "$_rmq_pid" 2>/dev/null; then
        _rmq_died=1
        return 0
    fi
    _rmq "$_rmq_bin/rabbitmqctl" -n "$_rmq_node" -q await_startup --timeout 5 &&
        _rmq "$_rmq_bin/rabbitmq-diagnostics" -n "$_rmq_node" -q check_port_connectivity &&
        (exec 3<>"/dev/tcp/127.0.0.1/$_rmq_port")
}

# Starts the broker on fresh free ports; returns 1 if it died while booting (e.g. another run took a port first).
_rmq_start() {
    _rmq_stop_attempt
    free_port _rmq_port 5672
    free_port _rmq_tls_port 5671
    free_port _rmq_dist_port 25672
    free_port _rmq_epmd_port 24369
    echo "$_rmq_epmd_port" >"$_rmq_dir/epmd.port"
    rm -rf "$_rmq_dir/mnesia" "$_rmq_dir/log"
    mkdir -p "$_rmq_dir/mnesia" "$_rmq_dir/log"
    printf '%s\n' "listeners.tcp.1 = 127.0.0.1:$_rmq_port" "loopback_users.guest = true" "log.console = false" \
        "log.file.level = info" "disk_free_limit.absolute = 50MB" \
        "listeners.ssl.1 = 127.0.0.1:$_rmq_tls_port" "ssl_options.cacertfile = $_rmq_dir/tls/ca-cert.pem" \
        "ssl_options.certfile = $_rmq_dir/tls/server-cert.pem" "ssl_options.keyfile = $_rmq_dir/tls/server-key.pem" \
        "ssl_options.verify = verify_none" "ssl_options.fail_if_no_peer_cert = false" >"$_rmq_dir/rabbitmq.conf"
    log "starting RabbitMQ node $_rmq_node on 127.0.0.1:$_rmq_port (files in $_rmq_dir)"
    _rmq "$_rmq_bin/rabbitmq-server" </dev/null >"$_rmq_dir/log/stdout.log" 2>&1 &
    _rmq_pid=$!
    echo "$_rmq_pid" >"$_rmq_dir/broker.pid"
    _rmq_died=
    wait_for "RabbitMQ $_rmq_node accepting AMQP on 127.0.0.1:$_rmq_port" 120 _rmq_ready || die "RabbitMQ did not start"
    [[ -z $_rmq_died ]]
}

for _rmq_attempt in 1 2 3; do
    _rmq_start && break
    tail -n 30 "$_rmq_dir/log/stdout.log" "$_rmq_dir"/log/*.log 2>/dev/null | sed 's/^/    | /' >&2
    ((_rmq_attempt < 3)) || die "RabbitMQ exited while starting, three times (log above)"
    log "RabbitMQ exited while starting (log above); trying other ports"
done

# Everything the broker and its epmd listen on must be loopback.
if _rmq_exposed=$(ss -Hltnp | grep -E "pid=$_rmq_pid,|:$_rmq_epmd_port " | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]):'); then
    die "RabbitMQ listens beyond loopback: $_rmq_exposed"
fi

export TELEPORT_RABBITMQ="amqp://guest:guest@127.0.0.1:$_rmq_port/"
log "RabbitMQ ready: TELEPORT_RABBITMQ=$TELEPORT_RABBITMQ"

# One user per role, with the permissions production uses; passwords fresh for this run.
for _rmq_role in ORCHESTRATOR STORAGE HOST OPERATOR; do
    printf -v "TELEPORT_BUS_PASSWORD_$_rmq_role" '%s' "$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export "TELEPORT_BUS_PASSWORD_$_rmq_role"
done
_rmq infra/rabbitmq/bus-users.sh -- "$_rmq_bin/rabbitmqctl" -n "$_rmq_node" >&2 || die "cannot create the role users"
for _rmq_role in ORCHESTRATOR STORAGE HOST OPERATOR; do
    _rmq_password_var=TELEPORT_BUS_PASSWORD_$_rmq_role
    export "TELEPORT_RABBITMQ_$_rmq_role=amqp://teleport-${_rmq_role,,}:${!_rmq_password_var}@127.0.0.1:$_rmq_port/"
    unset "$_rmq_password_var"
done
export TELEPORT_RABBITMQ_TLS="amqps://guest:guest@127.0.0.1:$_rmq_tls_port/?ca=$_rmq_dir/tls/ca-cert.pem"
export TELEPORT_RABBITMQ_OTHER_CA="$_rmq_dir/tls/other-ca-cert.pem"
log "RabbitMQ role users ready; TLS listener on 127.0.0.1:$_rmq_tls_port (TELEPORT_RABBITMQ_TLS)"
