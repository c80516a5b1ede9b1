#!/usr/bin/env bash
# The one test command: prepares the test environment (infra/test.d/*.sh, in name order), runs every test
# project of Teleport.sln once, stops what it started and ends with "Tests: N passed, N failed".
# Extra arguments go to `dotnet test`, e.g. infra/test.sh --filter FullyQualifiedName~Contracts
# A first argument naming a project (tests/X or tests/X/X.csproj) tests only that project, with the same setup.
# A whole run also lints first (infra/test.d/05-lint.sh: shellcheck, dotnet format); a failed check counts as a
# failed test.
set -Eeuo pipefail

TELEPORT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TELEPORT_ROOT
cd "$TELEPORT_ROOT"

# shellcheck source=infra/lib.sh
source infra/lib.sh

_teleport_hook=
_teleport_rc=0
# shellcheck disable=SC2317  # called by the EXIT trap
_teleport_finish() {
    local rc=$?
    trap - EXIT INT TERM ERR
    run_exit_handlers
    exit "$rc"
}
trap _teleport_finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Name the command that stopped the run (not failures inside $(...), which the caller reports itself).
trap '_teleport_rc=$?; ((BASH_SUBSHELL == 0)) && log "ERROR: exit $_teleport_rc from \"$BASH_COMMAND\" at ${BASH_SOURCE[0]}:$LINENO${_teleport_hook:+ (hook $_teleport_hook)}"' ERR

test_target=Teleport.sln
if [[ $# -gt 0 && ( $1 == *.csproj || -d ${1%/} ) ]]; then
    test_target=$1
    shift
fi

run_start=$SECONDS
for hook in infra/test.d/*.sh; do
    [[ -e $hook ]] || continue
    _teleport_hook=${hook##*/}
    hook_start=$SECONDS
    log "hook $_teleport_hook ..."
    # shellcheck disable=SC1090
    source "$hook"
    log "hook $_teleport_hook done in $((SECONDS - hook_start))s"
done
_teleport_hook=

: "${TELEPORT_TEST_RESULTS:?infra/test.d/00-dotnet.sh must set TELEPORT_TEST_RESULTS}"
log "dotnet test $test_target (Release) ..."
test_start=$SECONDS
# A hung test is killed after 10 minutes (blame-hang); a test project after 20 (the run must stay under 25).
session_timeout=(-- RunConfiguration.TestSessionTimeout=1200000)
for arg in "$@"; do [[ $arg == -- ]] && session_timeout=(); done
test_rc=0
dotnet test "$test_target" --configuration Release \
    --logger trx --results-directory "$TELEPORT_TEST_RESULTS" \
    --blame-hang-timeout 10m --blame-hang-dump-type none \
    "$@" "${session_timeout[@]}" </dev/null || test_rc=$?
log "dotnet test finished in $((SECONDS - test_start))s (exit $test_rc); whole run $((SECONDS - run_start))s"

# Sum the counters of every .trx this run wrote (one per test project). A project whose run was aborted (a hung
# or crashed test host) counts as one failure more than its counters show: the test that never ended is in none.
shopt -s nullglob
trx_files=("$TELEPORT_TEST_RESULTS"/*.trx)
shopt -u nullglob
passed=0 failed=0 skipped=0
for trx in "${trx_files[@]}"; do
    read -r p f s outcome < <(grep -ho -e '<Counters [^>]*>' -e '<ResultSummary outcome="[A-Za-z]*"' "$trx" | awk '
        /^<ResultSummary/ { split($0, o, "\""); outcome = o[2]; next }
        {
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                gsub(/[^0-9]/, "", kv[2])
                n[kv[1]] += kv[2]
            }
        }
        END { print n["passed"] + 0, n["failed"] + n["error"] + n["timeout"] + n["aborted"] + 0, n["notExecuted"] + n["inconclusive"] + 0, outcome }')
    if [[ $outcome != Completed && $f -eq 0 ]]; then
        log "ERROR: the test run of $(grep -o 'storage="[^"]*"' "$trx" | head -n 1 | sed -E 's/.*\/([^/]*)\.dll"/\1/') ended $outcome (hung or crashed)"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
log "results: ${#trx_files[@]} test assemblies, .trx files in $TELEPORT_TEST_RESULTS"

final_rc=0
if ((test_rc != 0)); then
    log "dotnet test failed (exit $test_rc)"
    final_rc=1
fi
if ((failed > 0)); then
    final_rc=1
fi
if ((passed + failed == 0)); then
    log "ERROR: no test ran"
    final_rc=1
fi
# Each lint check that failed (infra/test.d/05-lint.sh) counts as one failed test.
if ((${TELEPORT_LINT_FAILURES:-0} > 0)); then
    log "ERROR: lint failed: $TELEPORT_LINT_FAILED (counted as $TELEPORT_LINT_FAILURES failed; findings in the 05-lint.sh output)"
    failed=$((failed + TELEPORT_LINT_FAILURES))
    final_rc=1
fi

# Stop what the hooks started now, so the summary stays the last line.
run_exit_handlers

summary="Tests: $passed passed, $failed failed"
((skipped > 0)) && summary+=", $skipped skipped"
echo
echo "$summary"
exit "$final_rc"
