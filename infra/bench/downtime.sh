#!/usr/bin/env bash
# Downtime benchmark: full live migrations (tests/Teleport.EndToEnd.Tests' MigrationWorld: two storage workers, the
# host worker with its path switcher, the orchestrator's saga on SQLite, RabbitMQ, the workload guest under QEMU)
# of an idle guest and of a guest writing continuously; prints each run's downtime (VmPaused.PausedAt ->
# VmResumed.ResumedAt, final sync included) with where it went, then median / max / min per kind.
#
# usage: downtime.sh [--runs N] [--mode idle|writing|both] [--json FILE] [--fenced]     (default: 5 runs, both)
#   --fenced: the migrations take the fenced cut-over (MigrationOptions.FencedCutover: resume before verification)
#
# Uses TELEPORT_RABBITMQ, TELEPORT_QEMU_SYSTEM and TELEPORT_GUEST_* when they are set; otherwise it sources the
# test hooks (infra/test.d/00-dotnet.sh, 10-rabbitmq.sh, 25-qemu-system.sh) to start a private broker and build the
# guest, and stops them on exit. Each run takes 10-20 s on 2 cores.
set -Eeuo pipefail

TELEPORT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export TELEPORT_ROOT
cd "$TELEPORT_ROOT"
# shellcheck source=infra/lib.sh
source infra/lib.sh
trap 'run_exit_handlers' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${TELEPORT_RABBITMQ:-} || -z ${TELEPORT_QEMU_SYSTEM:-} || -z ${TELEPORT_GUEST_KERNEL:-} ]]; then
    for hook in 00-dotnet 10-rabbitmq 25-qemu-system; do
        # shellcheck disable=SC1090
        source "infra/test.d/$hook.sh"
    done
fi
[[ -z ${TELEPORT_GUEST_ERROR:-} ]] || die "the workload guest could not be built: $TELEPORT_GUEST_ERROR"

log "building tests/Teleport.EndToEnd.Tests (Release) ..."
dotnet build tests/Teleport.EndToEnd.Tests -c Release -v quiet -nologo >&2
dotnet tests/Teleport.EndToEnd.Tests/bin/Release/net10.0/Teleport.EndToEnd.Tests.dll downtime "$@"
