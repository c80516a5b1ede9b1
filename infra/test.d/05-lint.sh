# shellcheck shell=bash
# Sourced by infra/test.sh: the lint checks of CI, before any test runs.
#   ShellCheck       every shell script under infra/ and kmod/ (infra/lint-shell.sh), no finding of any level
#   dotnet format    whitespace and code style of the C# code against .editorconfig (--verify-no-changes)
# A failed check is reported here and counted as one failed test in test.sh's summary, so the run fails; the
# tests still run. Whole runs lint (what .ci/run does); a run of one project skips it unless TELEPORT_LINT=1,
# and TELEPORT_LINT=0 skips it always. Exports TELEPORT_LINT_FAILURES (a count) and TELEPORT_LINT_FAILED (names).

TELEPORT_LINT_FAILURES=0 TELEPORT_LINT_FAILED=
export TELEPORT_LINT_FAILURES TELEPORT_LINT_FAILED

# _lint_check NAME COMMAND...: runs COMMAND with its output in a file; on failure shows the findings.
_lint_check() {
    local name=$1 out start=$SECONDS rc=0 files
    shift
    out=$(mktemp "${TMPDIR:-/tmp}/teleport-lint.XXXXXX")
    "$@" >"$out" 2>&1 </dev/null || rc=$?
    if ((rc == 0)); then
        log "lint: $name: clean ($((SECONDS - start))s)"
    else
        head -n 100 "$out" | sed 's/^/    | /' >&2
        # Both tools start a finding with its place: FILE:LINE:COL: (shellcheck) or FILE(LINE,COL): (dotnet).
        files=$(grep -oE '^[^ (:]+([(:][0-9]+[,:][0-9]+\)?:)' "$out" | sed -E 's/[(:][0-9]+[,:][0-9]+\)?:$//' | sort -u | wc -l)
        log "ERROR: lint: $name: $(wc -l <"$out") lines of findings in $files files (exit $rc, $((SECONDS - start))s); the first 100 above"
        TELEPORT_LINT_FAILURES=$((TELEPORT_LINT_FAILURES + 1))
        TELEPORT_LINT_FAILED+="${TELEPORT_LINT_FAILED:+, }$name"
    fi
    rm -f "$out"
}

_lint_wanted=${TELEPORT_LINT:-}
if [[ -z $_lint_wanted ]]; then
    _lint_wanted=0
    [[ ${test_target:-Teleport.sln} == Teleport.sln ]] && _lint_wanted=1
fi
if [[ $_lint_wanted == 1 ]]; then
    need_packages shellcheck
    _lint_check "shellcheck" "$TELEPORT_ROOT/infra/lint-shell.sh"
    # Whitespace, code style and analyzers in one load of the solution; the fix is the same command without
    # --verify-no-changes.
    _lint_check "dotnet format" dotnet format "$TELEPORT_ROOT/Teleport.sln" --verify-no-changes --severity warn -v quiet
else
    if [[ -n ${TELEPORT_LINT:-} ]]; then
        log "lint skipped (TELEPORT_LINT=$TELEPORT_LINT)"
    else
        log "lint skipped (a run of one project; TELEPORT_LINT=1 runs it)"
    fi
fi
unset _lint_wanted
unset -f _lint_check
