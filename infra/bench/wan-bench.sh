#!/usr/bin/env bash
# WAN benchmark: bytes on the wire and wall time of Teleport against a raw copy, a zero-skipping copy, rsync
# and casync, each migrating a test image across the emulated WAN link of infra/wan/ (docs/wan.md) to a
# destination that already holds the base image.
#
# usage: wan-bench.sh [--images DIR] [--pairs "base:lamp base:web"] [--rate 100mbit] [--delay 25ms] [--loss 0%]
#                     [--teleport DLL] [--large]
#                     [--methods "teleport teleport-bw teleport-noindex raw zero rsync rsync-zstd casync"]
#                     [--repeat N] [--out-dir DIR] [--chart PATH] [--name wb]
#   --images DIR     the test images (default: $TELEPORT_TEST_IMAGES, else ~/.cache/teleport/images); built
#                    (cached) by infra/images/make-test-images.sh if missing
#   --pairs LIST     BASE:TARGET image names: BASE is at the destination (and in its index), TARGET migrates
#   --large          add the 2 GiB pair big-base:big-lamp (make-test-images.sh --large) to the pairs
#   --rate/--delay/--loss   the link, each direction (link.sh up); default 100 Mbit/s, 25 ms, no loss
#   --teleport DLL   a built teleport.dll (default: infra/publish.sh once, the binary as it ships)
#   --teleport-label TEXT  what that DLL is (e.g. "commit abc1234"), for the report
#   --methods LIST   a subset of the methods, in this order
#   --repeat N       run every method but casync N times and report the run with the median time (default 1;
#                    casync runs once: it takes minutes, and its time is its round trips, which hardly vary)
#   --out-dir DIR    where wan-bench.md, wan-bench.tsv and wan-bench.json go (default /tmp/teleport-wan-bench)
#   --chart PATH     also draw PATH (PNG) from the TSV with `tests/Teleport.Benchmarks -- chart`
#   --name NAME      the link's name (namespaces NAME-src / NAME-dst; default wb)
#
# The source side of every method runs in NAME-src, the destination side in NAME-dst (ip netns exec: the same
# file system, so the images, dotnet and the tools are the same files on both sides). Bytes on the wire are
# the link's own counters (IP bytes that entered the link, both directions, read before and after each run);
# wall time runs from the start of the sending (or, for casync, fetching) command until the destination
# holds the complete image. Every destination image is compared with the source image (cmp).
#   teleport          `teleport receive --index` (a fresh copy of an index of BASE) in dst, `teleport send` in
#                     src, default settings, no rate limit
#   teleport-bw       the same with `send --bandwidth RATE` (the link's rate: what an operator who knows the link
#                     passes; Teleport then paces itself and starts its adaptive zstd level from the rate)
#   teleport-noindex  the same as teleport without an index at the destination
#   raw               the image over one plain TCP stream (infra/wan/blockcopy.py)
#   zero              the non-zero 4 KiB blocks only, with their offsets (blockcopy.py --skip-zero)
#   rsync             rsync daemon in dst whose module holds BASE under TARGET's name (the basis file);
#                     `rsync --no-whole-file` from src
#   rsync-zstd        the same with `--compress --compress-choice=zstd`
#   casync            `casync make` (untimed) into a store served by nginx (keep-alive) in src;
#                     `casync extract --seed=BASE` in dst
# Root only (namespaces; apt-get installs rsync, casync, nginx-light, iperf3 when missing). Always removes the
# link, its servers and the work directory on exit, also on failure or Ctrl-C (TELEPORT_BENCH_KEEP=1 keeps the
# work directory).
set -Eeuo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$script_dir/../.." && pwd)
TELEPORT_ROOT=$root TELEPORT_LOG_TAG='wan-bench'
# shellcheck source=infra/lib.sh
source "$root/infra/lib.sh"
wan=$root/infra/wan
images=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}
pairs="base:lamp base:web"
rate_arg=100mbit
delay_arg=25ms
loss_arg=0%
teleport_dll=
teleport_label=
methods="teleport teleport-bw teleport-noindex raw zero rsync rsync-zstd casync"
out_dir=${TMPDIR:-/tmp}/teleport-wan-bench
chart=
name=wb
repeat=1
large=0

while (($#)); do
    case $1 in
    --images) images=${2:?--images needs a directory}; shift 2 ;;
    --pairs) pairs=${2:?--pairs needs a list}; shift 2 ;;
    --large) large=1; shift ;;
    --rate) rate_arg=${2:?--rate needs a rate}; shift 2 ;;
    --delay) delay_arg=${2:?--delay needs a delay}; shift 2 ;;
    --loss) loss_arg=${2:?--loss needs a percentage}; shift 2 ;;
    --teleport) teleport_dll=${2:?--teleport needs teleport.dll}; shift 2 ;;
    --teleport-label) teleport_label=${2:?--teleport-label needs a text}; shift 2 ;;
    --methods) methods=${2:?--methods needs a list}; shift 2 ;;
    --out-dir) out_dir=${2:?--out-dir needs a directory}; shift 2 ;;
    --chart) chart=${2:?--chart needs a PNG path}; shift 2 ;;
    --name) name=${2:?--name needs a link name}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a count}; shift 2 ;;
    -h | --help) print_usage "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, TUN devices)"
all_methods="teleport teleport-bw teleport-noindex raw zero rsync rsync-zstd casync"
for m in $methods; do
    [[ " $all_methods " == *" $m "* ]] || die "--methods: unknown method '$m' (known: $all_methods)"
done
has() { [[ " $methods " == *" $1 "* ]]; }
[[ $repeat =~ ^[1-9]$ ]] || die "--repeat takes 1 to 9, not '$repeat'"
((large)) && pairs+=" big-base:big-lamp"
for pair in $pairs; do
    [[ $pair =~ ^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$ ]] || die "--pairs takes BASE:TARGET names, not '$pair'"
done

rate=$(rate_bps "$rate_arg")
((rate > 0)) || die "--rate '$rate_arg' is not a rate like 100mbit"
rate_label=$(rate_label "$rate")
export LC_NUMERIC=C.UTF-8 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# ---- packages ------------------------------------------------------------------------------------

need_packages rsync casync nginx-light iproute2 iperf3 iputils-ping jq diffutils gcc libc6-dev
command -v python3 >/dev/null || need_packages python3-minimal
require_tools rsync casync nginx python3 ss cmp awk jq iperf3 ping

# ---- work directory and cleanup ------------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/teleport-wan-bench.XXXXXX")
# nginx's workers run as an unprivileged user and must read the chunk store below it.
chmod 0755 "$work"
link_up=0
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_tracked_pids
    # link.sh down also stops anything still running inside the two namespaces.
    if ((link_up)); then
        "$wan/link.sh" down --name "$name" || log "WARNING: link.sh down --name $name failed"
    fi
    remove_unless_kept "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A destination image that differs from the source is recorded (r_equal=no, reported as a failure, exit 3 at the
# end) rather than fatal, so one broken method does not lose the other measurements.
mismatches=0
same_file() {
    r_equal=yes
    if ! cmp -s "$1" "$2"; then
        r_equal=no
        mismatches=$((mismatches + 1))
        log "  MISMATCH: $3: the destination image differs from the source ($(cmp "$1" "$2" 2>&1 | head -n 1))"
    fi
}

# ---- images and Teleport -------------------------------------------------------------------------

"$root/infra/images/make-test-images.sh" --out "$images" >&2
((large)) && "$root/infra/images/make-test-images.sh" --out "$images" --large >&2
images=$(cd "$images" && pwd)
for pair in $pairs; do
    for img in ${pair%%:*} ${pair##*:}; do
        [[ -s $images/$img.img ]] || die "no image $images/$img.img"
    done
done

tp=()
teleport_commit=
if has teleport || has teleport-bw || has teleport-noindex; then
    if [[ -z $teleport_dll ]]; then
        teleport_label="commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
        [[ -z $(git -C "$root" status --porcelain -- src contracts 2>/dev/null) ]] || teleport_label+=" + uncommitted changes in src/ and contracts/"
        publish_teleport "$work/published" "$work/build.log" 4
        teleport_dll=$work/published/teleport.dll
        teleport_label+=", ReadyToRun"
    fi
    copy_teleport "$teleport_dll" "$work/teleport-bin" tp
    teleport_commit="${teleport_label:-$teleport_dll}, built $(date -u -r "$teleport_dll" '+%Y-%m-%d %H:%M UTC')"
    head -c 32 /dev/urandom >"$work/secret"
fi

# ---- preparation outside the link: the base's index, casync stores --------------------------------

mkdir -p "$work/www" "$work/out" "$work/logs"
chmod 0755 "$work/www"
for pair in $pairs; do
    base_name=${pair%%:*} target_name=${pair##*:}
    if { has teleport || has teleport-bw; } && [[ ! -d $work/index-$base_name ]]; then
        log "teleport index build: $base_name.img"
        "${tp[@]}" index build --index "$work/index-$base_name" "$images/$base_name.img" >"$work/logs/index-$base_name.log" 2>&1 ||
            { tail -n 20 "$work/logs/index-$base_name.log" >&2; die "teleport index build failed"; }
    fi
    if has casync && [[ ! -e $work/www/$target_name.caibx ]]; then
        log "casync make: $target_name.img (default chunk sizes)"
        t0=$(now)
        casync make --store="$work/www/store-$target_name" "$work/www/$target_name.caibx" "$images/$target_name.img" \
            >/dev/null 2>"$work/logs/casync-make-$target_name.log" ||
            { cat "$work/logs/casync-make-$target_name.log" >&2; die "casync make $target_name.img failed"; }
        elapsed "$t0" "$(now)" >"$work/casync-make-$target_name.seconds"
        chmod -R a+rX "$work/www"
    fi
done

# ---- the link and its check ----------------------------------------------------------------------

log "link up: $rate_arg, $delay_arg each way, loss $loss_arg"
link_up=1
eval "$("$wan/link.sh" up --name "$name" --rate "$rate_arg" --delay "$delay_arg" --loss "$loss_arg")"
log "link check (ping + iperf3 both ways, ~15 s)"
check_env=$("$wan/link.sh" check --name "$name" 2> >(tee "$work/link-check.txt" >&2))
eval "$check_env"
log "link check: rtt avg $WAN_CHECK_RTT_AVG_MS ms (min $WAN_CHECK_RTT_MIN_MS, max $WAN_CHECK_RTT_MAX_MS), ping loss $WAN_CHECK_PING_LOSS_PCT %, iperf3 src->dst $WAN_CHECK_S2D_MBIT Mbit/s, dst->src $WAN_CHECK_D2S_MBIT Mbit/s"
in_src() { ip netns exec "$WAN_SRC_NS" "$@"; }
in_dst() { ip netns exec "$WAN_DST_NS" "$@"; }

# Counters of the link: sets c_s2d c_d2s c_drops.
read_counters() {
    local text
    text=$("$wan/link.sh" counters --name "$name")
    c_s2d=$(sed -n 's/^WAN_S2D_BYTES=//p' <<<"$text")
    c_d2s=$(sed -n 's/^WAN_D2S_BYTES=//p' <<<"$text")
    c_drops=$(awk -F= '/^WAN_(S2D|D2S)_DROP_(QUEUE|LOSS)=/ { n += $2 } END { print n + 0 }' <<<"$text")
}
measure_start() {
    # Whatever the previous run left in flight (its last ACKs, FINs) is delivered within a round trip.
    sleep 0.3
    read_counters
    m_s2d=$c_s2d m_d2s=$c_d2s m_drops=$c_drops
}
measure_end() { # sets r_s2d r_d2s r_drops
    sleep 0.3
    read_counters
    r_s2d=$((c_s2d - m_s2d)) r_d2s=$((c_d2s - m_d2s)) r_drops=$((c_drops - m_drops))
}

# ---- servers: rsync daemon in dst, nginx in src ---------------------------------------------------

rsync_port=873
nginx_port=8080
if has rsync || has rsync-zstd; then
    write_rsyncd_config "$work/rsync"
    in_dst rsync --daemon --no-detach --address="$WAN_DST_IP" --port="$rsync_port" --config="$work/rsync/rsyncd.conf" &
    track_pid $!
    wait_listening "$rsync_port" "rsync daemon" $! "$WAN_DST_NS"
fi
if has casync; then
    # Keep-alive: one connection carries every chunk request of an extract.
    write_nginx_config "$work/nginx" "$work/www" "$WAN_SRC_IP:$nginx_port" "sendfile on;" "tcp_nodelay on;" \
        "keepalive_timeout 600s;" "keepalive_requests 1000000;"
    in_src nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
    track_pid $!
    wait_listening "$nginx_port" "nginx" $! "$WAN_SRC_NS"
fi

# ---- results -------------------------------------------------------------------------------------

tsv=$work/wan-bench.tsv
printf 'pair\tmethod\tbytes_s2d\tbytes_d2s\tseconds\timage_bytes\tdrops\ttool_bytes\tnote\tequal\n' >"$tsv"
# result PAIR METHOD NOTE TOOL_BYTES: records the last measured run (r_* and r_secs) of the current method.
result() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$r_s2d" "$r_d2s" "$r_secs" "$image_bytes" "$r_drops" "$4" "$3" "$r_equal" >>"$work/runs.tsv"
    log "  $2: $(((r_s2d + r_d2s) / 1000)) kB on the wire ($r_s2d src->dst, $r_d2s dst->src), $r_secs s, $r_drops drops"
}

# ---- the methods ---------------------------------------------------------------------------------

tp_port=7000
copy_port=7100

run_teleport() { # PAIR BASE_NAME TARGET LABEL INDEX(0|1) METHOD [SEND_OPTS...]
    local pair=$1 base_name=$2 target=$3 label=$4 with_index=$5 method=$6 out=$work/out/teleport.img recv_pid t0 t1 rc=0
    shift 6
    local args=(receive --listen "$WAN_DST_IP:$tp_port" --volume "$out" --size "$image_bytes" --secret-file "$work/secret" --json)
    rm -f "$out" "$out.teleport-state"
    if ((with_index)); then
        # Receiving adds blocks to the index: every run starts from a fresh copy of the base's index.
        rm -rf "$work/index-run"
        cp -a "$work/index-$base_name" "$work/index-run"
        args+=(--index "$work/index-run")
    fi
    in_dst "${tp[@]}" "${args[@]}" >"$work/logs/$label.recv.json" 2>"$work/logs/$label.recv.log" &
    recv_pid=$!
    track_pid "$recv_pid"
    wait_listening "$tp_port" "teleport receive" "$recv_pid" "$WAN_DST_NS"
    measure_start
    # The link's source-side counters every 20 ms: how busy the link was in each phase (link-timeline.py).
    local sampler
    # Not through in_src: a function in the background is a subshell, and killing it left the sampler running, still
    # writing into this label's file when the next repeat truncated it (NUL bytes, no phase table).
    ip netns exec "$WAN_SRC_NS" python3 "$script_dir/link-timeline.py" sample --dev "$WAN_SRC_DEV" --out "$work/logs/$label.samples" &
    sampler=$!
    track_pid "$sampler"
    t0=$(now)
    in_src "${tp[@]}" send --to "$WAN_DST_IP:$tp_port" --volume "$target" --secret-file "$work/secret" --json "$@" \
        >"$work/logs/$label.send.json" 2>"$work/logs/$label.send.log" ||
        { tail -n 20 "$work/logs/$label.send.log" >&2; die "teleport send ($label) failed"; }
    wait "$recv_pid" || rc=$?
    t1=$(now)
    forget_pid "$recv_pid"
    sleep 0.1
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    forget_pid "$sampler"
    {
        printf '\n%s, %s (%s s):\n\n' "$pair" "$method" "$(elapsed "$t0" "$t1")"
        python3 "$script_dir/link-timeline.py" phases --samples "$work/logs/$label.samples" --log "$work/logs/$label.send.log" \
            --rate "$rate" --start "$t0" --end "$t1"
    } >>"$work/phases.md" || log "  WARNING: no per-phase link use for $label"
    ((rc == 0)) || { tail -n 20 "$work/logs/$label.recv.log" >&2; die "teleport receive ($label) failed (exit $rc)"; }
    measure_end
    r_secs=$(elapsed "$t0" "$t1")
    [[ $(json_field "$work/logs/$label.send.json" verified) == True ]] || die "teleport ($label): the sender reports verified=false"
    [[ $(json_field "$work/logs/$label.recv.json" verified) == True ]] || die "teleport ($label): the receiver reports verified=false"
    same_file "$target" "$out" "Teleport ($label)"
    local s=$work/logs/$label.send.json
    local note
    note="$(json_field "$s" blocksFromIndex) blocks from the index, $(json_field "$s" blocksSent) sent, $(json_field "$s" zeroBlocks) zero of $(json_field "$s" blocks); $(json_field "$s" rounds) round(s); sender's own time $(printf '%.2f' "$(json_field "$s" seconds)") s"
    result "$pair" "$method" "$note" "$(json_field "$s" bytesOnWire)"
    rm -f "$out"
}

run_copy() { # PAIR TARGET LABEL [--skip-zero]
    local pair=$1 target=$2 label=$3 out=$work/out/copy.img recv_pid t0 t1 rc=0
    shift 3
    rm -f "$out"
    in_dst python3 "$wan/blockcopy.py" recv --listen "$WAN_DST_IP:$copy_port" --out "$out" >"$work/logs/$label.recv.json" 2>"$work/logs/$label.recv.log" &
    recv_pid=$!
    track_pid "$recv_pid"
    wait_listening "$copy_port" "blockcopy receiver" "$recv_pid" "$WAN_DST_NS"
    measure_start
    t0=$(now)
    in_src python3 "$wan/blockcopy.py" send --to "$WAN_DST_IP:$copy_port" --file "$target" "$@" >"$work/logs/$label.send.json" 2>"$work/logs/$label.send.log" ||
        { cat "$work/logs/$label.send.log" >&2; die "blockcopy send ($label) failed"; }
    wait "$recv_pid" || rc=$?
    t1=$(now)
    forget_pid "$recv_pid"
    ((rc == 0)) || { cat "$work/logs/$label.recv.log" >&2; die "blockcopy recv ($label) failed (exit $rc)"; }
    measure_end
    r_secs=$(elapsed "$t0" "$t1")
    same_file "$target" "$out" "$label"
    local data
    data=$(json_field "$work/logs/$label.send.json" dataBytes)
    if (($# == 0)); then
        result "$pair" "raw copy" "the whole image over one TCP stream (blockcopy.py)" "$data"
    else
        result "$pair" "zero-skipping copy" "the non-zero 4 KiB blocks with their offsets (blockcopy.py --skip-zero), uncompressed" "$data"
    fi
    rm -f "$out"
}

run_rsync() { # PAIR BASE TARGET METHOD [RSYNC_OPTS...]
    local pair=$1 base=$2 target=$3 method=$4 dest t0 t1 stats bytes sent recv
    shift 4
    dest=$work/rsync/module/$(basename "$target")
    cp "$base" "$dest"
    measure_start
    t0=$(now)
    stats=$(in_src rsync --no-whole-file --stats "$@" "$target" "rsync://$WAN_DST_IP:$rsync_port/dest/$(basename "$target")" 2>&1) ||
        { printf '%s\n' "$stats" >&2; die "rsync failed"; }
    t1=$(now)
    measure_end
    r_secs=$(elapsed "$t0" "$t1")
    bytes=$(rsync_stats_bytes "$stats") || { printf '%s\n' "$stats" >&2; die "rsync: no byte counts in --stats"; }
    sent=${bytes% *} recv=${bytes#* }
    same_file "$target" "$dest" "$method"
    local matched
    matched=$(awk -F': ' '/^Matched data:/ { gsub(",", "", $2); sub(/ bytes/, "", $2); print $2 }' <<<"$stats")
    result "$pair" "$method" "--no-whole-file $*, basis file = the base; rsync counted $sent sent + $recv received; matched data ${matched:-?} B" "$((sent + recv))"
    rm -f "$dest"
}

run_casync() { # PAIR BASE TARGET TARGET_NAME
    local pair=$1 base=$2 target=$3 target_name=$4 out=$work/out/casync.img t0 t1 body n conns
    rm -f "$out"
    : >"$work/nginx/access.log"
    measure_start
    t0=$(now)
    in_dst casync extract --seed="$base" --store="http://$WAN_SRC_IP:$nginx_port/store-$target_name" \
        "http://$WAN_SRC_IP:$nginx_port/$target_name.caibx" "$out" >"$work/logs/casync-$target_name.log" 2>&1 ||
        { tail -n 20 "$work/logs/casync-$target_name.log" >&2; die "casync extract failed"; }
    t1=$(now)
    measure_end
    r_secs=$(elapsed "$t0" "$t1")
    same_file "$target" "$out" "casync"
    read -r body n conns bad < <(awk '$2 != 200 { bad++ } { body += $3; n++; c[$6] = 1 } END { printf "%d %d %d %d\n", body, n, length(c), bad }' "$work/nginx/access.log")
    ((bad == 0)) || die "casync: $bad requests did not get 200 (see $work/nginx/access.log)"
    result "$pair" "casync" "$n HTTP requests (chunks + index) on $conns connection(s); response bodies $body B; casync make (untimed) $(cat "$work/casync-make-$target_name.seconds") s" "$body"
    rm -f "$out"
}

# ---- run -----------------------------------------------------------------------------------------

started=$SECONDS
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for pair in $pairs; do
    base_name=${pair%%:*} target_name=${pair##*:}
    base=$images/$base_name.img target=$images/$target_name.img
    image_bytes=$(stat -L -c %s "$target")
    label="$base_name→$target_name"
    log "pair $label: migrate $target_name.img ($((image_bytes >> 20)) MiB), $base_name.img at the destination"
    for m in $methods; do
        : >"$work/runs.tsv"
        runs=$repeat
        [[ $m == casync ]] && runs=1
        for ((run = 1; run <= runs; run++)); do
            case $m in
            teleport) run_teleport "$label" "$base_name" "$target" "tp-$target_name" 1 "Teleport" ;;
            teleport-bw) run_teleport "$label" "$base_name" "$target" "tp-bw-$target_name" 1 "Teleport, --bandwidth $rate_arg" --bandwidth "$rate_arg" ;;
            teleport-noindex) run_teleport "$label" "$base_name" "$target" "tp-noindex-$target_name" 0 "Teleport, no index" ;;
            raw) run_copy "$label" "$target" "raw-$target_name" ;;
            zero) run_copy "$label" "$target" "zero-$target_name" --skip-zero ;;
            rsync) run_rsync "$label" "$base" "$target" rsync ;;
            rsync-zstd) run_rsync "$label" "$base" "$target" "rsync, zstd" --compress --compress-choice=zstd ;;
            casync) run_casync "$label" "$base" "$target" "$target_name" ;;
            esac
        done
        # The run with the median time goes into the results; the note lists every run's time.
        sort -t $'\t' -k5,5g "$work/runs.tsv" | awk -F'\t' -v OFS='\t' '
            { line[NR] = $0; t[NR] = $5 }
            END {
                $0 = line[int((NR + 1) / 2)]
                if (NR > 1) { all = t[1]; for (i = 2; i <= NR; i++) all = all ", " t[i]; $9 = $9 "; median of " NR " runs (" all " s)" }
                print
            }' >>"$tsv"
    done
done
bench_seconds=$((SECONDS - started))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report --------------------------------------------------------------------------------------

mkdir -p "$out_dir"
python3 "$wan/bench-report.py" --tsv "$tsv" --rate "$rate" --rate-label "$rate_label" --delay "$delay_arg" --loss "$loss_arg" \
    --link-mode "$WAN_MODE" --rtt "$WAN_CHECK_RTT_AVG_MS" --rtt-min "$WAN_CHECK_RTT_MIN_MS" --rtt-max "$WAN_CHECK_RTT_MAX_MS" \
    --iperf-s2d "$WAN_CHECK_S2D_MBIT" --iperf-d2s "$WAN_CHECK_D2S_MBIT" --ping-loss "$WAN_CHECK_PING_LOSS_PCT" \
    --teleport-commit "${teleport_commit:-not run}" --dotnet "$(dotnet --version 2>/dev/null || echo none)" \
    --rsync "$(tool_version rsync)" --casync "$(tool_version casync)" \
    --nginx "$(tool_version nginx)" --kernel "$(uname -r)" \
    --cpu "$(machine_cpu), $(nproc) cores" \
    --images "$(images_manifest "$images")" \
    --wall "$bench_seconds" --load "$load_before -> $load_after" \
    --command "infra/bench/wan-bench.sh --rate $rate_arg --delay $delay_arg --loss $loss_arg --pairs \"$pairs\" --repeat $repeat --methods \"$methods\"" \
    --md "$out_dir/wan-bench.md" --json "$out_dir/wan-bench.json" --summary-md "$out_dir/wan-bench-summary.md"
cp "$tsv" "$out_dir/wan-bench.tsv"
cp "$work/link-check.txt" "$out_dir/link-check.txt"
if [[ -s $work/phases.md ]]; then
    {
        echo
        echo "## How busy the link was in each phase (Teleport runs)"
        echo
        echo "The link's src->dst bytes (20 ms samples) between the phase changes of teleport send's log; start-up runs"
        echo "from launching send to its first phase, exit from its last phase to the receiver's exit."
        cat "$work/phases.md"
    } >>"$out_dir/wan-bench.md"
fi
log "report: $out_dir/wan-bench.md (short: wan-bench-summary.md), $out_dir/wan-bench.tsv, $out_dir/wan-bench.json"

if [[ -n $chart ]]; then
    log "chart: $chart"
    dotnet run -c Release --project "$root/tests/Teleport.Benchmarks" -- chart "$out_dir/wan-bench.tsv" "$chart" \
        "Migration over an emulated WAN ($rate_label, $(awk -v r="$WAN_CHECK_RTT_AVG_MS" 'BEGIN { printf "%.0f", r }') ms RTT): base image at the destination" >&2 ||
        die "drawing the chart failed"
fi
cat "$out_dir/wan-bench.md"
((mismatches == 0)) || die "$mismatches destination image(s) differed from the source (see the report)"
