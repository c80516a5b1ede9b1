#!/usr/bin/env bash
# Publishes the `teleport` binary the way it ships (the Dockerfile does the same): Release, framework-dependent,
# ReadyToRun-compiled for this machine's runtime, so a process starts without JIT-compiling its start-up path
# (a `teleport send` reaches its first log line in ~80 ms instead of ~120 ms, and every phase after it warms faster).
#
#   infra/publish.sh OUT_DIR      ->  OUT_DIR/teleport.dll (run with `dotnet OUT_DIR/teleport.dll`) and OUT_DIR/teleport
set -euo pipefail
out=${1:?usage: infra/publish.sh OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dotnet publish "$root/src/Teleport.Cli" -c Release --use-current-runtime --self-contained false \
    -p:PublishReadyToRun=true -nologo -v quiet -o "$out"
[[ -s $out/teleport.dll ]] || { echo "publish.sh: no teleport.dll in $out" >&2; exit 1; }
