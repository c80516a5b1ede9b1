#!/usr/bin/env bash
# Teleport's index with its table NOT resident (issue 18): N keys (plus the real blocks of a 256 MiB image, as in
# index-engines.sh) are built into a table outside any limit, then the lookups run in a cgroup-v1 memory cgroup whose
# limit binds (the table's working file is several times the limit), after the page cache is dropped. Before each
# round the table's and the image's pages are also evicted, then every image block is looked up once through
# ReadVerified in batches of 256, in random order (each hit needs its entry from disk) and in the image's block order
# (a volume looked up as a destination does: prediction from the previous hit serves), each with the entry path alone
# and with prediction (PredictsLocality), and a million absent keys are looked up: rounds alternate the entries read
# through the mapping (major faults) and with O_DIRECT. Rates per CPU second and per wall second, the share of hits
# predicted, major faults per hit, the resident set split into anonymous and file pages (the process's, and the
# cgroup's memory.stat after each round), and whether the limit bound (the cgroup's max usage and failcnt).
#
# usage: index-cold.sh [--entries N] [--limit BYTES] [--dir DIR] [--keep]
#   --entries N     keys in the table (default 200000000: about 24 B each on disk in DIR, twice while opened)
#   --limit BYTES   the cgroup's memory limit (default 2147483648)
#   --dir DIR       where the table is built (default a temporary directory under /var/tmp); an index already built
#                   there for the same N is reused
#   --keep          keep DIR (to rerun without the build)
# Needs root (cgroup v1 memory controller at /sys/fs/cgroup/memory, /proc/sys/vm/drop_caches) and dotnet.
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/../.." && pwd)
TELEPORT_ROOT=$root TELEPORT_LOG_TAG=index-cold
# shellcheck source=infra/lib.sh
source "$root/infra/lib.sh"

entries=200000000 memory_limit=2147483648 work_dir="" keep_dir=0
while (($#)); do
    case $1 in
        --entries) entries=$2; shift 2 ;;
        --limit) memory_limit=$2; shift 2 ;;
        --dir) work_dir=$2; shift 2 ;;
        --keep) keep_dir=1; shift ;;
        -h | --help) print_usage "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $entries =~ ^[1-9][0-9]*$ ]] || die "--entries wants a positive number, got '$entries'"
[[ $memory_limit =~ ^[1-9][0-9]*$ ]] || die "--limit wants a byte count, got '$memory_limit'"
memory_root=/sys/fs/cgroup/memory
[[ -w $memory_root/cgroup.procs ]] || die "no writable cgroup-v1 memory controller at $memory_root (run as root)"

trap run_exit_handlers EXIT
if [[ -z $work_dir ]]; then
    work_dir=$(mktemp -d /var/tmp/teleport-index-cold.XXXXXX)
fi
mkdir -p "$work_dir"
((keep_dir)) || on_exit "rm -rf '$work_dir'"

log "building the benchmarks"
dotnet build "$root/tests/Teleport.Benchmarks" -c Release -v quiet -nologo >/dev/null
dll=$root/tests/Teleport.Benchmarks/bin/Release/net10.0/Teleport.Benchmarks.dll

table=$work_dir/teleport
if [[ $(cat "$table/entries" 2>/dev/null) != "$entries" ]]; then
    rm -rf "$table"
    log "building the table of $entries entries in $table (outside the cgroup)"
    dotnet "$dll" engine build teleport "$entries" "$table" | grep '^result'
    echo "$entries" >"$table/entries"
fi

cgroup=$memory_root/teleport-index-cold-$$
mkdir "$cgroup"
on_exit "rmdir '$cgroup'"
echo "$memory_limit" >"$cgroup/memory.limit_in_bytes"
log "dropping the page cache, then the lookups in $cgroup (limit $memory_limit bytes)"
sync
echo 3 >/proc/sys/vm/drop_caches
# The child joins the cgroup before it starts dotnet, so everything it maps and reads is charged there.
bash -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' _ "$cgroup" dotnet "$dll" engine cold teleport "$entries" "$table"
# The limit bound when the usage reached it and allocations failed against it (then reclaimed).
printf 'cgroup\tmax_usage_in_bytes\t%s\tfailcnt\t%s\n' "$(cat "$cgroup/memory.max_usage_in_bytes")" "$(cat "$cgroup/memory.failcnt")"
