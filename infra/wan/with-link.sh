#!/usr/bin/env bash
# Brings an emulated WAN link up, checks it (ping + iperf3, printed), runs a command with the WAN_* variables
# exported, and always tears the link down afterwards (also on failure or Ctrl-C). Exits with the command's status.
#
#   with-link.sh [link.sh up options] [--no-check] [--] COMMAND [ARGS...]
#   e.g. with-link.sh --rate 50mbit --delay 10ms -- bench/run.sh
# shellcheck disable=SC2317  # down/stop run from traps
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
up_args=()
check=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-check) check=; shift ;;
        --) shift; break ;;
        --rate | --delay | --loss | --queue-packets | --name | --mode)
            [[ $# -ge 2 ]] || { echo "with-link.sh: $1 needs a value" >&2; exit 2; }
            up_args+=("$1" "$2"); shift 2 ;;
        -*) echo "with-link.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
[[ $# -ge 1 ]] || { echo "usage: with-link.sh [--rate R] [--delay D] [--loss L] [--queue-packets N] [--name P] [--mode M] [--no-check] [--] COMMAND..." >&2; exit 2; }

name=tp
for ((i = 0; i < ${#up_args[@]}; i += 2)); do [[ ${up_args[i]} == --name ]] && name=${up_args[i+1]}; done

down() { "$here/link.sh" down --name "$name" || echo "with-link.sh: teardown of link '$name' failed" >&2; }
trap 'rc=$?; trap - EXIT; down; exit $rc' EXIT
child=
# The command runs as a background job so a signal reaches these traps at once (bash would otherwise wait for a
# foreground command to end before running them); it is stopped first, then the link goes down.
stop() { [[ -n $child ]] && kill -"$1" "$child" 2>/dev/null; exit "$2"; }
trap 'stop INT 130' INT
trap 'stop TERM 143' TERM

env_text=$("$here/link.sh" up "${up_args[@]}")
eval "$env_text"
if [[ -n $check ]]; then
    "$here/link.sh" check --name "$name" >/dev/null
fi
"$@" <&0 &
child=$!
rc=0
wait "$child" || rc=$?
child=
exit $rc
