#!/usr/bin/env bash
# Side-by-side benchmark: bytes on the wire and time of Teleport against a raw copy, a zero-skipping copy,
# rsync and casync, migrating a test image to a destination that already holds the base image.
#
# usage: transfer-bytes.sh [--images DIR] [--rate RATE] [--out FILE.md] [--pairs "base:lamp base:web"]
#                          [--teleport DLL | --without-teleport] [--large]
#   --images DIR         the test images (default: $TELEPORT_TEST_IMAGES, else ~/.cache/teleport/images);
#                        built (cached) by infra/images/make-test-images.sh if missing
#   --rate RATE          the link rate for the timed runs: N, Nkbit, Nmbit or Ngbit (default 100mbit)
#   --out FILE.md        where the Markdown report goes (default: stdout); progress goes to stderr
#   --pairs LIST         BASE:TARGET pairs of image names (default "base:lamp base:web")
#   --teleport DLL       a built teleport.dll (default: infra/publish.sh once, the binary as it ships)
#   --without-teleport   measure only the other methods (Teleport rows say "not run")
#   --large              add the 2 GiB pair big-base:big-lamp (make-test-images.sh --large) to the pairs
#
# Methods, all on 127.0.0.1, every destination file checked equal to the source with cmp:
#   Teleport             `teleport receive` with a content index of the base / without an index, and
#                        `teleport send` (defaults, and --compression-level 9); bytesOnWire from its JSON;
#                        the level-9 run goes through tcp-count-relay.py, which counts the TCP payload
#                        independently. The headline run is `send --bandwidth RATE` (the zstd level adapts
#                        to the link, so the bytes of a WAN migration are those of the rate-limited run);
#                        the same run unlimited on loopback is shown next to it
#   raw copy             the image size
#   zero-skipping copy   the non-zero 4 KiB blocks (nonzero-bytes.py)
#   rsync                a private rsync daemon whose module holds a copy of the base named as the target
#                        (the basis file of rsync's delta algorithm); bytes = sent + received from --stats
#   casync               `casync make` at the source into a store served by a private nginx; the destination
#                        runs `casync extract --seed=BASE` against it; bytes = the response bodies in
#                        nginx's access log, cross-checked with the chunk sets of the two indexes
#                        (caibx-delta.py)
# Needs root for apt-get (rsync, casync, nginx-light, python3 installed only when missing) and dotnet.
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/../.." && pwd)
TELEPORT_ROOT=$root TELEPORT_LOG_TAG=bench
# shellcheck source=infra/lib.sh
source "$root/infra/lib.sh"
images=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}
rate_arg=100mbit
out=
pairs="base:lamp base:web"
teleport_dll=
with_teleport=1
large=0

while (($#)); do
    case $1 in
    --images) images=${2:?--images needs a directory}; shift 2 ;;
    --rate) rate_arg=${2:?--rate needs a rate}; shift 2 ;;
    --out) out=${2:?--out needs a file}; shift 2 ;;
    --pairs) pairs=${2:?--pairs needs a list}; shift 2 ;;
    --teleport) teleport_dll=${2:?--teleport needs teleport.dll}; shift 2 ;;
    --without-teleport) with_teleport=0; shift ;;
    --large) large=1; shift ;;
    -h | --help) print_usage "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

rate=$(rate_bps "$rate_arg")
((rate > 0)) || die "--rate must be positive"
rate_label=$(rate_label "$rate")

# ---- packages and tools --------------------------------------------------------------------------

need_packages rsync casync nginx-light iproute2 diffutils
command -v python3 >/dev/null || need_packages python3-minimal
require_tools rsync casync nginx python3 ss cmp awk

# ---- scratch space and cleanup -------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/teleport-bench.XXXXXX")
# nginx's workers run as an unprivileged user and must read the chunk store below it.
chmod 0755 "$work"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    stop_tracked_pids
    remove_unless_kept "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

same_file() {
    cmp -s "$1" "$2" || die "$3: the destination file differs from the source ($2 vs $1)"
}

# ---- images --------------------------------------------------------------------------------------

"$root/infra/images/make-test-images.sh" --out "$images"
if ((large)); then
    "$root/infra/images/make-test-images.sh" --out "$images" --large
    pairs+=" big-base:big-lamp"
fi
images=$(cd "$images" && pwd)
for pair in $pairs; do
    [[ $pair =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$ ]] || die "--pairs takes BASE:TARGET names, not '$pair'"
    for name in ${pair%%:*} ${pair##*:}; do
        [[ -s $images/$name.img ]] || die "no image $images/$name.img"
    done
done

# ---- Teleport CLI --------------------------------------------------------------------------------

tp=()
if ((with_teleport)); then
    if [[ -z $teleport_dll ]]; then
        publish_teleport "$work/published" "$work/build.log"
        teleport_dll=$work/published/teleport.dll
    fi
    copy_teleport "$teleport_dll" "$work/teleport-bin" tp "run with --without-teleport to measure the others"
    head -c 32 /dev/urandom >"$work/secret"
fi

# ---- servers: rsync daemon and nginx, both private and on 127.0.0.1 -------------------------------

write_rsyncd_config "$work/rsync"
rsync_port=
free_port rsync_port
rsync --daemon --no-detach --address=127.0.0.1 --port="$rsync_port" --config="$work/rsync/rsyncd.conf" &
track_pid $!
wait_listening "$rsync_port" "rsync daemon" $!

mkdir -p "$work/www"
nginx_port=
free_port nginx_port
write_nginx_config "$work/nginx" "$work/www" "127.0.0.1:$nginx_port"
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
track_pid $!
wait_listening "$nginx_port" "nginx" $!

# ---- report helpers ------------------------------------------------------------------------------

report=$work/report.md
: >"$report"
emit() { printf '%s\n' "$*" >>"$report"; }

fmt_bytes() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
fmt_int() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f %%", 100 * a / b }'; }
bound_seconds() { awk -v b="$1" -v r="$rate" 'BEGIN { printf "%.2f", b * 8 / r }'; }
# check LABEL OK(0/1) DETAIL
checks=()
check() {
    local verdict=FAIL
    [[ $2 == 1 ]] && verdict=PASS
    checks+=("| $1 | $3 | **$verdict** |")
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? 1 : 0 }'; }
row() { emit "| $1 | $(fmt_int "$2") ($(fmt_bytes "$2")) | $(pct "$2" "$raw") | $3 | $4 |"; }

# ---- one pair ------------------------------------------------------------------------------------

export LC_NUMERIC=C.UTF-8

# NAME TARGET_IMG SIZE INDEX_DIR|- RATE|- RELAY(0|1) [SEND_OPTS...]; leaves $work/tp-NAME.{send,recv}.json and,
# with RELAY=1, $work/tp-NAME.relay.json (the bytes a relay between the two counted).
teleport_run() {
    local name=$1 target=$2 size=$3 index=$4 limit=$5 relay=$6 port relay_port relay_pid recv_pid send_port t0 t1
    free_port port
    local args=(receive --listen "127.0.0.1:$port" --volume "$work/tp-out.img" --size "$size" --secret-file "$work/secret" --json)
    rm -f "$work/tp-out.img"
    if [[ $index != - ]]; then
        # Receiving adds blocks to the index: every run starts from a fresh copy of the base's index.
        rm -rf "$work/index-run"
        cp -a "$index" "$work/index-run"
        args+=(--index "$work/index-run")
    fi
    "${tp[@]}" "${args[@]}" >"$work/tp-$name.recv.json" 2>"$work/tp-$name.recv.log" &
    recv_pid=$!
    track_pid "$recv_pid"
    wait_listening "$port" "teleport receive ($name)" "$recv_pid"
    send_port=$port
    if ((relay)); then
        free_port relay_port
        python3 "$script_dir/tcp-count-relay.py" "$relay_port" "$port" "$work/tp-$name.relay.json" &
        relay_pid=$!
        track_pid "$relay_pid"
        wait_listening "$relay_port" "byte-counting relay" "$relay_pid"
        send_port=$relay_port
    fi
    local send=(send --to "127.0.0.1:$send_port" --volume "$target" --secret-file "$work/secret" --json)
    [[ $limit != - ]] && send+=(--bandwidth "$limit")
    send+=("${@:7}")
    t0=$(now)
    "${tp[@]}" "${send[@]}" >"$work/tp-$name.send.json" 2>"$work/tp-$name.send.log" ||
        { tail -n 20 "$work/tp-$name.send.log" >&2; die "teleport send ($name) failed"; }
    t1=$(now)
    local rc=0
    wait "$recv_pid" || rc=$?
    forget_pid "$recv_pid"
    ((rc == 0)) || { tail -n 20 "$work/tp-$name.recv.log" >&2; die "teleport receive ($name) failed (exit $rc)"; }
    elapsed "$t0" "$t1" >"$work/tp-$name.wall"
    if ((relay)); then
        # Both ends have closed; the relay writes its report as its last pump finishes.
        local deadline=$((SECONDS + 10))
        until [[ -s $work/tp-$name.relay.json ]]; do
            ((SECONDS < deadline)) || die "the byte-counting relay wrote no report"
            sleep 0.1
        done
        kill "$relay_pid" 2>/dev/null || true
        wait "$relay_pid" 2>/dev/null || true
        forget_pid "$relay_pid"
    fi
    [[ $(json_field "$work/tp-$name.send.json" verified) == True ]] || die "teleport ($name): sender reports verified=false"
    [[ $(json_field "$work/tp-$name.recv.json" verified) == True ]] || die "teleport ($name): receiver reports verified=false"
    same_file "$target" "$work/tp-out.img" "Teleport ($name)"
    rm -f "$work/tp-out.img"
}

rsync_run() { # NAME BASE TARGET OPTS... ; prints "BYTES SECONDS"
    local name=$1 base=$2 target=$3 dest t0 t1 stats bytes
    shift 3
    dest=$work/rsync/module/$(basename "$target")
    cp "$base" "$dest"
    t0=$(now)
    stats=$(rsync --no-whole-file --stats "$@" "$target" "rsync://127.0.0.1:$rsync_port/dest/$(basename "$target")" 2>&1) ||
        { printf '%s\n' "$stats" >&2; die "rsync ($name) failed"; }
    t1=$(now)
    bytes=$(rsync_stats_bytes "$stats") || { printf '%s\n' "$stats" >&2; die "rsync ($name): no byte counts in --stats"; }
    same_file "$target" "$dest" "rsync ($name)"
    rm -f "$dest"
    echo "$((${bytes% *} + ${bytes#* })) $(elapsed "$t0" "$t1")"
}

casync_extract() { # NAME BASE TARGET STORE_NAME CAIBX_NAME [OPTS...]; prints "BODY_BYTES WIRE_BYTES REQUESTS SECONDS"
    local name=$1 base=$2 target=$3 store=$4 caibx=$5 t0 t1 result
    shift 5
    rm -f "$work/casync-out.img"
    : >"$work/nginx/access.log"
    t0=$(now)
    casync extract --seed="$base" --store="http://127.0.0.1:$nginx_port/$store" "$@" \
        "http://127.0.0.1:$nginx_port/$caibx" "$work/casync-out.img" >"$work/casync-$name.log" 2>&1 ||
        { tail -n 20 "$work/casync-$name.log" >&2; die "casync extract ($name) failed"; }
    t1=$(now)
    same_file "$target" "$work/casync-out.img" "casync ($name)"
    rm -f "$work/casync-out.img"
    # nginx writes a request's log line before the client sees the end of the response; give it a moment.
    sleep 0.2
    result=$(awk '$2 != 200 { bad++ } { body += $3; wire += $4 + $5; n++ } END { printf "%d %d %d %d", body, wire, n, bad }' "$work/nginx/access.log")
    read -r body wire n bad <<<"$result"
    ((bad == 0)) || die "casync ($name): $bad requests did not get 200 (see $work/nginx/access.log)"
    echo "$body $wire $n $(elapsed "$t0" "$t1")"
}

bench_pair() {
    local base_name=$1 target_name=$2
    local base=$images/$base_name.img target=$images/$target_name.img
    local tname=$target_name.img
    raw=$(stat -c %s "$target")
    log "pair $base_name -> $target_name ($(fmt_bytes "$raw"))"

    emit ""
    emit "### $base_name -> $target_name: migrate $target_name.img ($(fmt_int "$raw") bytes), the destination holds $base_name.img"
    emit ""
    emit "| Method | Bytes on wire | % of raw | Time at $rate_label | Notes |"
    emit "| --- | ---: | ---: | ---: | --- |"

    # Teleport
    local tp_bytes="" tp_noidx_bytes=""
    if ((with_teleport)); then
        log "  teleport: index of $base_name"
        rm -rf "$work/index"
        "${tp[@]}" index build --index "$work/index" "$base" >"$work/index.log" 2>&1 ||
            { tail -n 20 "$work/index.log" >&2; die "teleport index build failed"; }
        log "  teleport: with index, unlimited"
        teleport_run idx "$target" "$raw" "$work/index" - 0
        log "  teleport: with index, --bandwidth $rate_arg"
        teleport_run idx-rate "$target" "$raw" "$work/index" "$rate_arg" 0
        log "  teleport: without index, unlimited"
        teleport_run noidx "$target" "$raw" - - 0
        # This run goes through the byte-counting relay: a check of bytesOnWire that keeps the timed runs direct.
        log "  teleport: with index, --compression-level 9, unlimited, through a byte-counting relay"
        teleport_run idx-l9 "$target" "$raw" "$work/index" - 1 --compression-level 9

        local s=$work/tp-idx.send.json r=$work/tp-idx-rate.send.json n=$work/tp-noidx.send.json
        # The headline figures are the rate-limited run's: the adaptive zstd level is chosen for the link.
        tp_bytes=$(json_field "$r" bytesOnWire)
        local rate_bytes rate_secs relay_total bound
        rate_bytes=$(json_field "$r" bytesOnWire)
        rate_secs=$(json_field "$r" seconds)
        relay_total=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["upBytes"] + d["downBytes"], d["connections"])' "$work/tp-idx-l9.relay.json")
        bound=$(bound_seconds "$rate_bytes")
        local l9_bytes
        l9_bytes=$(json_field "$work/tp-idx-l9.send.json" bytesOnWire)
        check "$base_name -> $target_name: Teleport's bytesOnWire equals the TCP payload an independent relay counted (level-9 run)" \
            "$( [[ ${relay_total% *} == "$l9_bytes" ]] && echo 1 || echo 0)" "$(fmt_int "$l9_bytes") vs $(fmt_int "${relay_total% *}") in ${relay_total#* } connection(s)"
        row "**Teleport** (index of $base_name at the destination, --bandwidth $rate_arg)" "$tp_bytes" \
            "$(printf '%.2f s measured' "$rate_secs")" \
            "$(json_field "$r" blocksFromIndex) blocks from the index, $(json_field "$r" blocksFromVolume) repeats inside the volume, $(json_field "$r" blocksSent) sent, $(json_field "$r" zeroBlocks) zero; index $(fmt_bytes "$(json_field "$r" indexBytes)"), data $(fmt_bytes "$(json_field "$r" dataBytes)"); adaptive zstd level; $(json_field "$r" rounds) round(s); bound $bound s; sender process $(cat "$work/tp-idx-rate.wall") s with .NET start-up"
        row "Teleport, index, unlimited on loopback" "$(json_field "$s" bytesOnWire)" "$(printf '%.2f' "$(json_field "$s" seconds)") s on loopback" \
            "the same without a rate limit: the adaptive level falls as the link never waits; data $(fmt_bytes "$(json_field "$s" dataBytes)")"
        tp_noidx_bytes=$(json_field "$n" bytesOnWire)
        row "Teleport, no index at the destination" "$tp_noidx_bytes" "$(bound_seconds "$tp_noidx_bytes") s if bandwidth-bound" \
            "zero skipping + zstd only; $(json_field "$n" blocksSent) blocks sent, $(json_field "$n" zeroBlocks) zero; $(printf '%.2f' "$(json_field "$n" seconds)") s on loopback unlimited"
        local l9=$work/tp-idx-l9.send.json
        row "Teleport, index, --compression-level 9" "$(json_field "$l9" bytesOnWire)" "$(bound_seconds "$(json_field "$l9" bytesOnWire)") s if bandwidth-bound" \
            "fixed zstd level 9, unlimited: data $(fmt_bytes "$(json_field "$l9" dataBytes)"); $(printf '%.2f' "$(json_field "$l9" seconds)") s on loopback unlimited"
        check "$base_name -> $target_name: Teleport time at $rate_label within 1.2 x bytesOnWire / rate" \
            "$(le "$rate_secs" "$(awk -v b="$bound" 'BEGIN { print 1.2 * b }')")" \
            "$(printf '%.2f' "$rate_secs") s vs $bound s bound (ratio $(awk -v a="$rate_secs" -v b="$bound" 'BEGIN { printf "%.2f", a / b }'))"
    else
        emit "| **Teleport** (index of $base_name at the destination) | not run | | | run without --without-teleport |"
        emit "| Teleport, no index at the destination | not run | | | |"
    fi

    # Raw and zero-skipping copies
    row "Raw copy" "$raw" "$(bound_seconds "$raw") s if bandwidth-bound" "the whole image"
    local nz nz_bytes
    nz=$(python3 "$script_dir/nonzero-bytes.py" "$target")
    nz_bytes=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["nonZeroBytes"])' "$nz")
    row "Zero-skipping copy" "$nz_bytes" "$(bound_seconds "$nz_bytes") s if bandwidth-bound" \
        "the non-zero 4 KiB blocks ($(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["nonZeroBlocks"], "of", d["blocks"])' "$nz")), uncompressed"

    # rsync
    local rs rs_bytes rs_secs rsz rsz_bytes rsz_secs rs4 rs4_bytes rs4_secs rs_rate rsz_rate kb
    kb=$(awk -v r="$rate" 'BEGIN { k = r / 8 / 1000; if (k == int(k)) printf "%d", k; else printf "%.3f", k }')
    log "  rsync: delta, defaults"
    rs=$(rsync_run plain "$base" "$target"); read -r rs_bytes rs_secs <<<"$rs"
    log "  rsync: delta, --bwlimit=${kb}KB"
    rs_rate=$(rsync_run plain-rate "$base" "$target" --bwlimit="${kb}KB"); rs_rate=${rs_rate#* }
    row "rsync (delta against the base, default block size)" "$rs_bytes" "$rs_rate s measured (--bwlimit=${kb}KB)" \
        "sent + received from --stats; $rs_secs s on loopback unlimited; bound $(bound_seconds "$rs_bytes") s"
    log "  rsync: delta + zstd"
    rsz=$(rsync_run zstd "$base" "$target" --compress --compress-choice=zstd); read -r rsz_bytes rsz_secs <<<"$rsz"
    log "  rsync: delta + zstd, --bwlimit=${kb}KB"
    rsz_rate=$(rsync_run zstd-rate "$base" "$target" --compress --compress-choice=zstd --bwlimit="${kb}KB"); rsz_rate=${rsz_rate#* }
    row "rsync -z (delta + zstd)" "$rsz_bytes" "$rsz_rate s measured (--bwlimit=${kb}KB)" \
        "--compress --compress-choice=zstd; $rsz_secs s on loopback unlimited; bound $(bound_seconds "$rsz_bytes") s"
    log "  rsync: delta + zstd, --block-size=4096"
    rs4=$(rsync_run zstd-4k "$base" "$target" --compress --compress-choice=zstd --block-size=4096); read -r rs4_bytes rs4_secs <<<"$rs4"
    row "rsync -z --block-size=4096" "$rs4_bytes" "$(bound_seconds "$rs4_bytes") s if bandwidth-bound" \
        "Teleport's block size; $rs4_secs s on loopback unlimited"

    # casync: default chunking (16/64/256 KiB), then 4/16/64 KiB chunks
    local cs chunk_opts label store caibx body wire n secs delta dbytes cs_rate cs_bytes=""
    for chunk_opts in default 4096:16384:65536; do
        store=store-$target_name-${chunk_opts//:/-}
        caibx=$target_name-${chunk_opts//:/-}.caibx
        local opts=()
        [[ $chunk_opts != default ]] && opts=(--chunk-size="$chunk_opts")
        log "  casync: make ($chunk_opts chunks)"
        casync make "${opts[@]}" --store="$work/www/$store" "$work/www/$caibx" "$target" >/dev/null 2>"$work/casync-make.log" ||
            { cat "$work/casync-make.log" >&2; die "casync make $tname failed"; }
        # The destination's view for the cross-check: the seed chunked with the same parameters.
        casync make "${opts[@]}" --store="$work/seedstore" "$work/seed.caibx" "$base" >/dev/null 2>"$work/casync-make.log" ||
            { cat "$work/casync-make.log" >&2; die "casync make $base_name.img failed"; }
        delta=$(python3 "$script_dir/caibx-delta.py" "$work/www/$caibx" "$work/seed.caibx" "$work/www/$store")
        dbytes=$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["missingBytes"] + d["indexBytes"], d["missingChunks"])' "$delta")
        rm -rf "$work/seedstore" "$work/seed.caibx"
        log "  casync: extract --seed over HTTP ($chunk_opts chunks)"
        cs=$(casync_extract "$chunk_opts" "$base" "$target" "$store" "$caibx"); read -r body wire n secs <<<"$cs"
        local timed=""
        if [[ $chunk_opts == default ]]; then
            cs_bytes=$body
            log "  casync: extract --seed over HTTP, --rate-limit-bps=$((rate / 8))"
            cs_rate=$(casync_extract "$chunk_opts-rate" "$base" "$target" "$store" "$caibx" --rate-limit-bps=$((rate / 8)))
            timed="${cs_rate##* } s measured (--rate-limit-bps)"
            label="casync (seed = $base_name.img, default 16/64/256 KiB chunks)"
        else
            timed="$(bound_seconds "$body") s if bandwidth-bound"
            label="casync (seed = $base_name.img, 4/16/64 KiB chunks)"
        fi
        row "$label" "$body" "$timed" \
            "$n HTTP responses (chunks + index), bodies only; with HTTP headers both ways $(fmt_int "$wire") B; chunk-set computation: $(fmt_int "${dbytes% *}") B in ${dbytes#* } chunks + index; $secs s on loopback; bound $(bound_seconds "$body") s"
        rm -rf "${work:?}/www/$store" "$work/www/$caibx"
    done

    if ((with_teleport)); then
        check "$base_name -> $target_name: Teleport bytes <= 0.85 x casync (default chunks)" "$(le "$tp_bytes" "$(awk -v c="$cs_bytes" 'BEGIN { print 0.85 * c }')")" \
            "$(fmt_int "$tp_bytes") vs $(fmt_int "$cs_bytes") (ratio $(awk -v a="$tp_bytes" -v b="$cs_bytes" 'BEGIN { printf "%.3f", a / b }'))"
        check "$base_name -> $target_name: Teleport bytes <= 0.5 x rsync (defaults)" "$(le "$tp_bytes" "$(awk -v c="$rs_bytes" 'BEGIN { print 0.5 * c }')")" \
            "$(fmt_int "$tp_bytes") vs $(fmt_int "$rs_bytes") (ratio $(awk -v a="$tp_bytes" -v b="$rs_bytes" 'BEGIN { printf "%.3f", a / b }'))"
        check "$base_name -> $target_name: (extra) Teleport bytes <= rsync -z (fewer bytes than rsync with zstd)" "$(le "$tp_bytes" "$rsz_bytes")" \
            "$(fmt_int "$tp_bytes") vs $(fmt_int "$rsz_bytes") (ratio $(awk -v a="$tp_bytes" -v b="$rsz_bytes" 'BEGIN { printf "%.3f", a / b }'))"
    fi
}

started=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
emit "## Bytes on the wire and time: Teleport vs raw copy, zero-skipping copy, rsync and casync"
emit ""
emit "Generated by \`infra/bench/transfer-bytes.sh --rate $rate_arg$( ((large)) && echo ' --large')\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Every method runs over 127.0.0.1 and every destination file was checked equal to the source (\`cmp\`)."
emit "\"measured\" times are real runs with the tool's own rate limit at $rate_label; \"bound\" is bytes x 8 / rate (the time if bandwidth is the only limit; real WAN runs with delay come with the network-namespace WAN)."
for pair in $pairs; do
    bench_pair "${pair%%:*}" "${pair##*:}"
done

emit ""
emit "### Targets"
emit ""
if ((${#checks[@]})); then
    emit "| Check | Figures | Result |"
    emit "| --- | --- | --- |"
    for c in "${checks[@]}"; do emit "$c"; done
else
    emit "Teleport not run: no checks."
fi

emit ""
emit "### Machine and versions"
emit ""
# shellcheck source=/dev/null
emit "- CPU: $(machine_cpu), $(nproc) cores visible; memory $(free -g | awk '/^Mem:/ { print $2 }') GiB; kernel $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
emit "- rsync: $(tool_version rsync)"
emit "- casync: $(tool_version casync) (Debian $(dpkg-query -W -f='${Version}' casync))"
emit "- nginx: $(tool_version nginx)"
if ((with_teleport)); then
    emit "- Teleport: commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown) (work tree as built), .NET $(dotnet --version), defaults (4 KiB blocks, protocol 2, adaptive zstd level with a 128 MiB long-distance window)"
fi
emit "- images: $(images_manifest "$images")"
emit "- benchmark wall time: $((SECONDS - started)) s; load average (1/5/15 min) $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (the machine is shared: timed figures move with it)"

if [[ -n $out ]]; then
    cp "$report" "$out"
    log "report written to $out"
else
    cat "$report"
fi
