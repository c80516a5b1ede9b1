#!/usr/bin/env bash
# Creates (or updates) one RabbitMQ user per Teleport role with only the permissions that role needs on the
# virtual host, as docs/security.md ("Bus") explains. Idempotent: run it again to change a password.
#
#   TELEPORT_BUS_PASSWORD_ORCHESTRATOR=... TELEPORT_BUS_PASSWORD_STORAGE=... \
#   TELEPORT_BUS_PASSWORD_HOST=... TELEPORT_BUS_PASSWORD_OPERATOR=... \
#       bus-users.sh [--vhost VHOST] [--print] -- RABBITMQCTL [ARGS...]
#
# RABBITMQCTL ARGS is how to reach the broker, e.g. `rabbitmqctl -n rabbit@broker`. Users are teleport-<role>.
# --print prints "role configure write read" lines instead (for tests and docs), and needs no broker.
set -euo pipefail

vhost=/
print=
while (($#)); do
    case $1 in
    --vhost) vhost=$2; shift 2 ;;
    --print) print=1; shift ;;
    --) shift; break ;;
    *) echo "bus-users.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# MassTransit's names: a receive endpoint NAME is a queue and an exchange of that name (NAME_error and
# NAME_skipped when a message fails or has no consumer); a message type is an exchange Teleport.Contracts:TYPE,
# bound to the exchange of each endpoint that consumes it; faults go to MassTransit:Fault--Teleport.Contracts:TYPE--
# and MassTransit:Fault; each bus has a temporary endpoint HOST_PROCESS_bus_ID.
contracts='Teleport\.Contracts:[A-Za-z]+'
faults='MassTransit:(Fault|ReceiveFault)(--[A-Za-z.:]+--)?'
temporary='[^:]+_bus_[a-z0-9]+'
own() { echo "$1(_error|_skipped)?"; }
events() { local IFS='|'; echo "Teleport\\.Contracts:($*)"; }

storage_q='teleport-storage-[A-Za-z0-9._-]+'
host_q='teleport-host-[A-Za-z0-9._-]+'
orchestrator_q='teleport-orchestrator(-[A-Za-z0-9._-]+)?'
operator_q='teleport-(migrate-[0-9a-f]{32}|demo-watch)'

storage_events=$(events BlocksRequested CopyRoundCompleted DestinationPrepared DirtyBelowThreshold IndexStreamed \
    MigrationCompleted TransferAborted TransferFailed VolumeCreated VolumeDeleted VolumeOperationFailed)
host_events=$(events HostOperationFailed TargetSwitched TargetSwitchedBack VmPaused VmResumed \
    VmDescribed IncomingVmPrepared MemoryMigrationProgress MemoryPreSwitchover VmMemoryMigrated IncomingVmDiscarded \
    SourceVmStopped)
orchestrator_events=$(events MigrationSucceeded MigrationFailed MigrationNudged MigrationDeadlineExpired)
operator_events=$(events MigrationRequested)

# Prints the role's configure, write and read patterns, one per line, each anchored.
permissions() {
    local conf write read
    case $1 in
    orchestrator)
        # Sends commands to the workers' queues (MassTransit declares and binds the queue it sends to).
        conf="$(own "$orchestrator_q")|$storage_q|$host_q|$contracts"
        write="$(own "$orchestrator_q")|$storage_q|$host_q|$orchestrator_events"
        read="$orchestrator_q|$storage_q|$host_q|$contracts"
        ;;
    storage)
        conf="$(own "$storage_q")|$contracts"
        write="$(own "$storage_q")|$storage_events"
        read="$storage_q|$contracts"
        ;;
    host)
        conf="$(own "$host_q")|$contracts"
        write="$(own "$host_q")|$host_events"
        read="$host_q|$contracts"
        ;;
    operator)
        # Publishes MigrationRequested, sends retry/cancel to the orchestrators' queue, follows events.
        conf="$(own "$operator_q")|$orchestrator_q|$contracts"
        write="$(own "$operator_q")|$orchestrator_q|$operator_events"
        read="$operator_q|$orchestrator_q|$contracts"
        ;;
    esac
    printf '^(%s|%s|%s)$\n' "$conf" "$faults" "$temporary"
    printf '^(%s|%s|%s)$\n' "$write" "$faults" "$temporary"
    printf '^(%s|%s)$\n' "$read" "$temporary"
}

roles=(orchestrator storage host operator)
if [[ -n $print ]]; then
    for role in "${roles[@]}"; do
        mapfile -t p < <(permissions "$role")
        printf '%s %s %s %s\n' "$role" "${p[@]}"
    done
    exit 0
fi
(($#)) || { echo "bus-users.sh: no rabbitmqctl command after --" >&2; exit 2; }

existing=$("$@" -q list_users --no-table-headers | awk '{ print $1 }')
for role in "${roles[@]}"; do
    var=TELEPORT_BUS_PASSWORD_${role^^}
    password=${!var:?set $var (the broker password of the $role role)}
    user=teleport-$role
    # The password goes in on stdin, never on a command line others can read in ps.
    if grep -qx -- "$user" <<<"$existing"; then
        "$@" -q change_password "$user" <<<"$password" >/dev/null
    else
        "$@" -q add_user "$user" <<<"$password" >/dev/null
    fi
    mapfile -t p < <(permissions "$role")
    "$@" -q set_permissions -p "$vhost" "$user" "${p[@]}" >/dev/null
    echo "bus-users.sh: $user ready on vhost $vhost"
done
