#!/usr/bin/env bash
# The first thing to run on a fresh machine: builds the test disk images (Debian systems made from Debian
# packages), then shows how much of each one a destination would rebuild from the others instead of
# receiving it, and builds a content index over the base image.
# Last, it migrates lamp.img to a destination holding base.img with teleport send/receive.
# Everything lands under ~/.cache/teleport (override with TELEPORT_TEST_IMAGES); nothing needs root except
# installing missing Debian packages.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images=${TELEPORT_TEST_IMAGES:-$HOME/.cache/teleport/images}

"$root/infra/images/make-test-images.sh" --out "$images" >&2
dotnet build "$root/src/Teleport.Cli" -c Release -v quiet -nologo >&2
teleport=("dotnet" "$root/src/Teleport.Cli/bin/Release/net10.0/teleport.dll")

echo "== Similarity between the test systems (4 KiB blocks)"
"${teleport[@]}" similarity \
    --base "$images/base.img" --base "$images/lamp.img" --base "$images/web.img" \
    --target "$images/base.img" --target "$images/lamp.img" --target "$images/web.img"

echo "== Migrating lamp.img to a destination that holds base.img: what must cross the wire"
"${teleport[@]}" similarity --base "$images/base.img" --target "$images/lamp.img"

echo "== Indexing base.img at the destination"
"${teleport[@]}" index build --index "$images/index" "$images/base.img"

echo "== Migrating lamp.img to that destination over 127.0.0.1 (cold: nobody writes it meanwhile)"
work=$(mktemp -d)
trap 'kill "${receiver:-}" 2>/dev/null; rm -rf "$work"' EXIT
head -c 32 /dev/urandom >"$work/secret"
port=7400
while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do port=$((port + 1)); done
"${teleport[@]}" receive --listen "127.0.0.1:$port" --volume "$work/lamp.img" --index "$images/index" \
    --secret-file "$work/secret" >"$work/received.txt" 2>"$work/receive.log" &
receiver=$!
until ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do
    kill -0 "$receiver" 2>/dev/null || { cat "$work/receive.log" >&2; exit 1; }
    sleep 0.1
done
"${teleport[@]}" send --to "127.0.0.1:$port" --volume "$images/lamp.img" --secret-file "$work/secret" 2>/dev/null
wait "$receiver"
cmp -s "$images/lamp.img" "$work/lamp.img" && echo "the received lamp.img is byte-for-byte the source"
