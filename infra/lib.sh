# shellcheck shell=bash
# Helpers for infra/test.sh, its hooks in infra/test.d/ and the scripts under infra/ (sourced, never executed).
#
# API for hooks (keep stable, other hooks depend on it):
#   need_packages PKG...          install the Debian packages that are missing (apt-get update at most once a run)
#   on_exit "COMMAND"             run COMMAND when test.sh ends (last registered runs first)
#   wait_for "WHAT" SECONDS CMD...  poll CMD until it succeeds; after SECONDS fail loudly naming WHAT
#   log MESSAGE / die MESSAGE     progress line on stderr / error line and exit 1
#   free_port VAR [FIRST]         set VAR to a free TCP port (>= FIRST) not handed out before in this run
#
# For scripts of their own (benchmarks, tools), which source this file too:
#   TELEPORT_LOG_TAG              set before sourcing: the tag of log lines (default "test")
#   print_usage FILE              print FILE's header comment (line 2 up to "set -E...") as its --help
#   require_tools TOOL...         die naming the first TOOL that is not on PATH
#   now / elapsed T0 T1           a timestamp / the seconds from T0 to T1, two decimals
#   json_field FILE KEY           a top-level value of a JSON file as Python prints it (True/False for booleans)
#   rate_bps RATE / rate_label BPS  N[bit|kbit|mbit|gbit] in bit/s / bit/s as "100 Mbit/s"
#   track_pid PID / forget_pid PID / stop_tracked_pids   background processes to stop when the script ends
#   stop_pids_since ARRAY FROM    stop the processes of a list of the caller's from index FROM on, newest first
#   wait_listening PORT WHAT PID [NETNS]  wait until something listens on TCP PORT; die if PID exits first
#   remove_unless_kept DIR        remove a work directory unless TELEPORT_BENCH_KEEP is set
#   publish_teleport DIR LOG [TRIES]  infra/publish.sh into DIR (teleport.dll as it ships), output in LOG
#   copy_teleport DLL DIR ARRAY [HINT]  a private copy of DLL's directory; ARRAY=(dotnet DIR/teleport.dll)
#   write_rsyncd_config DIR       DIR/rsyncd.conf: a private daemon, module "dest" = DIR/module, writable
#   write_nginx_config DIR ROOT LISTEN [DIRECTIVE...]  DIR/nginx.conf: a private nginx serving ROOT
#   rsync_stats_bytes STATS       "SENT RECEIVED" from the output of rsync --stats
#   machine_cpu / tool_version TOOL / images_manifest DIR  the "machine and versions" lines of a report

TELEPORT_ROOT=${TELEPORT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# Caches live under HOME; a CI environment may not set it.
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
export HOME

# Progress goes to the stderr test.sh started with, even from commands whose output is redirected (wait_for).
exec {_TELEPORT_LOG_FD}>&2

log() {
    printf '[%s %s] %s\n' "${TELEPORT_LOG_TAG:-test}" "$(date -u +%H:%M:%S)" "$*" >&"$_TELEPORT_LOG_FD"
}

die() {
    log "ERROR: $*"
    [[ -n ${_TELEPORT_WAIT_OUT:-} ]] && rm -f "$_TELEPORT_WAIT_OUT"
    exit 1
}

# ---- cleanup stack -------------------------------------------------------------------------------

_TELEPORT_ON_EXIT=()

on_exit() {
    [[ $# -eq 1 && -n $1 ]] || die "on_exit takes exactly one command string"
    _TELEPORT_ON_EXIT+=("$1")
}

# Runs the registered commands last-in first-out; a failing command is reported and the rest still run.
run_exit_handlers() {
    local i cmd
    for ((i = ${#_TELEPORT_ON_EXIT[@]} - 1; i >= 0; i--)); do
        cmd=${_TELEPORT_ON_EXIT[i]}
        unset '_TELEPORT_ON_EXIT[i]'
        ( set +e; eval "$cmd" ) || log "cleanup step failed (exit $?): $cmd"
    done
    _TELEPORT_ON_EXIT=()
}

# ---- waiting ------------------------------------------------------------------------------------

wait_for() {
    [[ $# -ge 3 ]] || die "usage: wait_for \"description\" timeout_seconds command..."
    local what=$1 timeout=$2 deadline
    shift 2
    deadline=$((SECONDS + timeout))
    _TELEPORT_WAIT_OUT=$(mktemp "${TMPDIR:-/tmp}/teleport-wait.XXXXXX")
    # The command runs in this shell (not a subshell) so it may die() to stop waiting early.
    until "$@" >"$_TELEPORT_WAIT_OUT" 2>&1; do
        if ((SECONDS >= deadline)); then
            log "ERROR: timed out after ${timeout}s waiting for: $what"
            log "last attempt was: $*"
            tail -n 20 "$_TELEPORT_WAIT_OUT" | sed 's/^/    | /' >&"$_TELEPORT_LOG_FD"
            rm -f "$_TELEPORT_WAIT_OUT"
            _TELEPORT_WAIT_OUT=
            return 1
        fi
        sleep 0.5
    done
    rm -f "$_TELEPORT_WAIT_OUT"
    _TELEPORT_WAIT_OUT=
}

# ---- packages -----------------------------------------------------------------------------------

_TELEPORT_APT_UPDATED=
TELEPORT_APT_LOG=${TELEPORT_APT_LOG:-${TMPDIR:-/tmp}/teleport-apt.$$.log}

_package_installed() {
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]
}

# Runs apt-get with its output in a log file; on failure shows the end of it.
_apt() {
    if ! env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 "$@" >>"$TELEPORT_APT_LOG" 2>&1 </dev/null; then
        tail -n 40 "$TELEPORT_APT_LOG" | sed 's/^/    | /' >&2
        return 1
    fi
}

need_packages() {
    local pkg missing=() made_policy=
    for pkg in "$@"; do
        _package_installed "$pkg" || missing+=("$pkg")
    done
    ((${#missing[@]} > 0)) || return 0
    [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}) and not root: install them with apt-get, then rerun"
    log "installing Debian packages: ${missing[*]} (log: $TELEPORT_APT_LOG)"
    if [[ -z $_TELEPORT_APT_UPDATED ]]; then
        _TELEPORT_APT_UPDATED=1
        # A mirror that is briefly unreachable should not fail the run when the lists already answer.
        _apt update || log "warning: apt-get update reported errors; trying the install with the lists we have"
    fi
    # Packages must not start system services (rabbitmq-server, postgresql...): tests start private instances.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\n# written by teleport infra/lib.sh during apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local rc=0
    _apt install -y --no-install-recommends "${missing[@]}" || rc=$?
    [[ -n $made_policy ]] && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || die "apt-get install ${missing[*]} failed (exit $rc); full log: $TELEPORT_APT_LOG"
    for pkg in "${missing[@]}"; do
        _package_installed "$pkg" || die "package $pkg is still not installed after apt-get install (a virtual package? name the real one)"
    done
}

# ---- ports --------------------------------------------------------------------------------------

_TELEPORT_PORTS_GIVEN=" "

# free_port VAR [FIRST]: sets VAR to the first TCP port from FIRST up that nothing uses and that this run
# has not handed out yet (a variable, not output, so the record survives: $(...) would lose it).
free_port() {
    # Locals named apart from any caller's variable: printf -v writes the innermost variable of that name.
    local _fp_var=$1 _fp_port=${2:-20000}
    command -v ss >/dev/null || need_packages iproute2
    while ((_fp_port < 65535)); do
        if [[ $_TELEPORT_PORTS_GIVEN != *" $_fp_port "* ]] && [[ -z $(ss -Htan "sport = :$_fp_port" 2>/dev/null) ]]; then
            _TELEPORT_PORTS_GIVEN+="$_fp_port "
            printf -v "$_fp_var" '%s' "$_fp_port"
            return 0
        fi
        _fp_port=$((_fp_port + 1))
    done
    die "no free TCP port found from ${2:-20000} upwards"
}

# ---- scripts of their own: usage, tools, time, JSON, rates -----------------------------------------

print_usage() {
    sed -n '2,/^set -E/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

require_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is not on PATH"
    done
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

json_field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Decimal units, as link rates are quoted; the suffixes are tc's (infra/wan/link.sh takes the same).
rate_bps() {
    local v=${1,,} mult=1
    case $v in
    *gbit) mult=1000000000; v=${v%gbit} ;;
    *mbit) mult=1000000; v=${v%mbit} ;;
    *kbit) mult=1000; v=${v%kbit} ;;
    *bit) v=${v%bit} ;;
    esac
    [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--rate takes N, Nkbit, Nmbit or Ngbit, not '$1'"
    awk -v v="$v" -v m="$mult" 'BEGIN { printf "%d", v * m }'
}

rate_label() {
    awk -v r="$1" 'BEGIN { if (r >= 1e9) printf "%g Gbit/s", r/1e9; else if (r >= 1e6) printf "%g Mbit/s", r/1e6; else printf "%g kbit/s", r/1e3 }'
}

# ---- scripts of their own: background processes and the work directory ---------------------------

_TELEPORT_PIDS=()

# stop_pids_since ARRAY FROM: stops the processes ARRAY[FROM], ARRAY[FROM+1]... newest first (TERM, up to 20 s each,
# then KILL) and drops them from ARRAY (a caller's own list, unlike track_pid's).
stop_pids_since() {
    local -n _stop_pids=$1
    local _stop_from=$2 i
    for ((i = ${#_stop_pids[@]} - 1; i >= _stop_from; i--)); do kill -TERM "${_stop_pids[i]}" 2>/dev/null || true; done
    for ((i = ${#_stop_pids[@]} - 1; i >= _stop_from; i--)); do
        timeout 20 tail --pid="${_stop_pids[i]}" -f /dev/null 2>/dev/null || kill -KILL "${_stop_pids[i]}" 2>/dev/null || true
    done
    _stop_pids=("${_stop_pids[@]:0:_stop_from}")
}

track_pid() { _TELEPORT_PIDS+=("$1"); }

# A reaped process leaves the list at once, so stop_tracked_pids never signals a recycled pid.
forget_pid() {
    local keep=() pid
    for pid in "${_TELEPORT_PIDS[@]}"; do
        [[ $pid == "$1" ]] || keep+=("$pid")
    done
    _TELEPORT_PIDS=("${keep[@]}")
}

# TERM, up to 10 s to exit, then KILL; every process is reaped (they are this shell's children).
stop_tracked_pids() {
    local pid i alive
    for pid in "${_TELEPORT_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        alive=0
        for pid in "${_TELEPORT_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.2
    done
    for pid in "${_TELEPORT_PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    _TELEPORT_PIDS=()
}

wait_listening() {
    local port=$1 what=$2 pid=$3 ns=${4:-} deadline=$((SECONDS + 60)) in_ns=()
    [[ -n $ns ]] && in_ns=(ip netns exec "$ns")
    until "${in_ns[@]}" ss -Hltn "sport = :$port" | grep -q .; do
        kill -0 "$pid" 2>/dev/null || die "$what exited before listening on port $port${ns:+ in $ns}"
        ((SECONDS < deadline)) || die "$what is not listening on port $port${ns:+ in $ns} after 60 s"
        sleep 0.05
    done
}

remove_unless_kept() {
    if [[ -n ${TELEPORT_BENCH_KEEP:-} ]]; then log "kept $1"; else rm -rf -- "$1"; fi
}

# ---- scripts of their own: the Teleport CLI, rsync, report lines ----------------------------------

# Others may be mid-edit in a shared work tree: with TRIES > 1 a failed build is retried every 30 s.
publish_teleport() {
    local dir=$1 build_log=$2 tries=${3:-1} try
    log "publishing src/Teleport.Cli as it ships (infra/publish.sh: Release, ReadyToRun)"
    for ((try = 1; ; try++)); do
        "$TELEPORT_ROOT/infra/publish.sh" "$dir" >"$build_log" 2>&1 && return 0
        ((try < tries)) || { tail -n 30 "$build_log" >&2; die "infra/publish.sh failed"; }
        log "publish failed (try $try), retrying in 30 s"
        sleep 30
    done
}

# A private copy, so a build by someone else cannot swap the binaries in the middle of a run; dies unless the
# CLI has the commands a benchmark uses (send, receive, index), adding HINT to the message.
copy_teleport() {
    local dll=$1 dir=$2 hint=${4:+ ($4)} help cmd
    local -n _teleport_cli=$3
    [[ -s $dll ]] || die "no teleport.dll at $dll"
    cp -a "$(dirname "$dll")" "$dir"
    _teleport_cli=(dotnet "$dir/$(basename "$dll")")
    help=$("${_teleport_cli[@]}" --help 2>&1) || true
    for cmd in send receive index; do
        grep -qE "^ +$cmd " <<<"$help" || die "this teleport has no '$cmd' command$hint"
    done
}

write_rsyncd_config() {
    mkdir -p "$1/module"
    cat >"$1/rsyncd.conf" <<EOF_RSYNCD
pid file = $1/rsyncd.pid
log file = $1/rsyncd.log
use chroot = no
uid = root
gid = root
[dest]
    path = $1/module
    read only = no
EOF_RSYNCD
}

# The access log (DIR/access.log) has a line a request: URI STATUS BODY_BYTES BYTES_SENT REQUEST_LENGTH CONNECTION.
# Each DIRECTIVE goes into http { }.
write_nginx_config() {
    local dir=$1 root=$2 listen=$3 directive extra=''
    shift 3
    for directive in "$@"; do extra+="    $directive"$'\n'; done
    mkdir -p "$dir/tmp"
    cat >"$dir/nginx.conf" <<EOF_NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 64; }
http {
    log_format bytes '\$request_uri \$status \$body_bytes_sent \$bytes_sent \$request_length \$connection';
    access_log $dir/access.log bytes;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
${extra}    types { application/octet-stream cacnk caibx; }
    server {
        listen $listen;
        root $root;
    }
}
EOF_NGINX
}

rsync_stats_bytes() {
    local sent recv
    sent=$(awk -F': ' '/^Total bytes sent:/ { gsub(",", "", $2); print $2 }' <<<"$1")
    recv=$(awk -F': ' '/^Total bytes received:/ { gsub(",", "", $2); print $2 }' <<<"$1")
    [[ $sent =~ ^[0-9]+$ && $recv =~ ^[0-9]+$ ]] || return 1
    echo "$sent $recv"
}

machine_cpu() { lscpu | awk -F': +' '/^Model name/ { print $2; exit }'; }

tool_version() {
    case $1 in
    rsync) rsync --version | head -n 1 | sed 's/  */ /g' ;;
    nginx) nginx -v 2>&1 | sed 's/^nginx version: //' ;;
    *) "$1" --version 2>&1 | head -n 1 ;;
    esac
}

images_manifest() {
    cat "$1/MANIFEST" "$1/MANIFEST-large" 2>/dev/null | tr '\n' ';' | sed -E 's/, sha256 [0-9a-f]+//g; s/;$//; s/;/; /g'
}
