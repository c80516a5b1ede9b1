# shellcheck shell=bash
# Sourced by infra/test.sh: the .NET SDK and where test results go.

if ! command -v dotnet >/dev/null; then
    # A user-local install (dotnet-install.sh) is not on PATH in a non-login shell.
    for dir in "${DOTNET_ROOT:-}" "$HOME/.dotnet" /usr/share/dotnet /usr/lib/dotnet; do
        if [[ -n $dir && -x $dir/dotnet ]]; then
            export DOTNET_ROOT=$dir PATH="$dir:$PATH"
            break
        fi
    done
fi
command -v dotnet >/dev/null || die "dotnet is not on PATH: install the .NET SDK that global.json asks for (10.0.100 or a later 10.0 feature band)"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_UI_LANGUAGE=en MSBUILDTERMINALLOGGER=off

log "dotnet SDK $(dotnet --version)"

# One results directory per run (so two runs never count each other's .trx files); keep the last few.
_results_base=$TELEPORT_ROOT/artifacts/test-results
mkdir -p "$_results_base"
TELEPORT_TEST_RESULTS=$_results_base/$(date -u +%Y%m%d-%H%M%S)-$$
export TELEPORT_TEST_RESULTS
mkdir -p "$TELEPORT_TEST_RESULTS"
# shellcheck disable=SC2012
ls -1dt "$_results_base"/*/ 2>/dev/null | tail -n +6 | xargs -r rm -rf --
unset _results_base
