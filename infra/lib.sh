# Helpers for infra/test.sh and the hooks in infra/test.d/ (sourced, never executed).
#
# API for hooks (keep stable, other hooks depend on it):
#   need_packages PKG...          install the Debian packages that are missing (apt-get update at most once a run)
#   on_exit "COMMAND"             run COMMAND when test.sh ends (last registered runs first)
#   wait_for "WHAT" SECONDS CMD...  poll CMD until it succeeds; after SECONDS fail loudly naming WHAT
#   log MESSAGE / die MESSAGE     progress line on stderr / error line and exit 1
#   free_port VAR [FIRST]         set VAR to a free TCP port (>= FIRST) not handed out before in this run

TELEPORT_ROOT=${TELEPORT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# Caches live under HOME; a CI environment may not set it.
HOME=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
export HOME

# Progress goes to the stderr test.sh started with, even from commands whose output is redirected (wait_for).
exec {_TELEPORT_LOG_FD}>&2

log() {
    printf '[test %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&"$_TELEPORT_LOG_FD"
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
    local var=$1 port=${2:-20000}
    command -v ss >/dev/null || need_packages iproute2
    while ((port < 65535)); do
        if [[ $_TELEPORT_PORTS_GIVEN != *" $port "* ]] && [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]]; then
            _TELEPORT_PORTS_GIVEN+="$port "
            printf -v "$var" '%s' "$port"
            return 0
        fi
        port=$((port + 1))
    done
    die "no free TCP port found from ${2:-20000} upwards"
}
