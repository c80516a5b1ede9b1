#!/usr/bin/env bash
# Teleport's block index against embedded key-value engines (RocksDB, Microsoft FASTER, LMDB), on the same N
# uniformly spread 16-byte keys: build rate, bytes on disk, resident memory per entry and single-thread lookup rates
# (a million misses, a million hits; per CPU second, so other jobs on a shared machine do not count), and verified
# hits (the lookup, then the 4 KiB block read from a page-cached image and hashed with SHA-256, as a destination does),
# and the page faults a lookup costs (from /proc/self/stat; a major fault is a read from disk). For Teleport also
# verified hits through the index itself on the real blocks of a 256 MiB image whose fingerprints are in the table:
# one TryReadVerified at a time, and ReadVerified in batches of 256 (io_uring, or pread where it is unavailable).
#
# usage: index-engines.sh [--entries N] [--engines "teleport rocksdb faster lmdb"] [--dir DIR] [--out FILE.md]
#   --entries N   keys per engine (default 10000000; every engine writes about 35-45 B per key to DIR)
#   --engines     which engines, in order (default all four)
#   --dir DIR     where the stores are built (default a temporary directory, deleted at the end)
#   --out FILE.md the Markdown table (default stdout); progress goes to stderr
# Each engine is built in one process and read in a fresh one, so the build's memory is not counted.
# Needs dotnet and, for LMDB, Debian's liblmdb0 (installed when missing, as root).
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/../.." && pwd)
TELEPORT_ROOT=$root TELEPORT_LOG_TAG=index-engines
# shellcheck source=infra/lib.sh
source "$root/infra/lib.sh"

entries=10000000 engines="teleport rocksdb faster lmdb" dir="" out=/dev/stdout
while (($#)); do
    case $1 in
        --entries) entries=$2; shift 2 ;;
        --engines) engines=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h | --help) print_usage "$0"; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ $entries =~ ^[1-9][0-9]*$ ]] || die "--entries wants a positive number, got '$entries'"

[[ " $engines " == *" lmdb "* ]] && need_packages liblmdb0
trap run_exit_handlers EXIT
if [[ -z $dir ]]; then
    dir=$(mktemp -d /var/tmp/teleport-index-engines.XXXXXX)
    on_exit "rm -rf '$dir'"
fi
mkdir -p "$dir"

log "building the benchmarks"
dotnet build "$root/tests/Teleport.Benchmarks" -c Release -v quiet -nologo >/dev/null
dll=$root/tests/Teleport.Benchmarks/bin/Release/net10.0/Teleport.Benchmarks.dll

results=$dir/results.tsv
: >"$results"
for engine in $engines; do
    rm -rf "${dir:?}/$engine"
    for phase in build read; do
        log "$engine: $phase, $entries entries"
        dotnet "$dll" engine "$phase" "$engine" "$entries" "$dir/$engine" | grep '^result' >>"$results"
    done
    rm -rf "${dir:?}/$engine"
done

python3 - "$results" "$entries" >"$out" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    fields = line.rstrip("\n").split("\t")
    row = rows.setdefault(fields[1], {})
    row.update(zip(fields[2::2], fields[3::2]))
columns = [("build_Mps", "build (M keys/s)"), ("file_B_per_entry", "on disk (B/key)"),
           ("anon_B_per_entry", "anonymous memory (B/key)"), ("file_pages_B_per_entry", "mapped file pages (B/key)"),
           ("miss_Mps", "misses (M/s per CPU s)"), ("hit_kps", "hits (k/s per CPU s)"),
           ("verified_kps", "verified hits (k/s per CPU s)"), ("verified_index_kps", "verified hits, index path (k/s per CPU s)"),
           ("verified_batch_kps", "verified hits, batched (k/s per CPU s)"), ("batch_reads", "batch reads"), ("faults_per_hit_first", "page faults per first hit (minor/major)"),
           ("open_s", "open (s)")]
print(f"{int(sys.argv[2]):,} keys of 16 bytes, single thread, warm page cache\n")
print("| engine | " + " | ".join(title for _, title in columns) + " |")
print("|---|" + "---:|" * len(columns))
for name, row in rows.items():
    print(f"| {name} | " + " | ".join(row.get(key, "-") for key, _ in columns) + " |")
PY
