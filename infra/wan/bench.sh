#!/usr/bin/env bash
# The WAN benchmark of issue 8, from where the link's tools are: Teleport against rsync, casync, a raw and a
# zero-skipping copy over this directory's emulated link. It lives in infra/bench/wan-bench.sh with the other
# benchmarks; this runs it with the same arguments (docs/wan.md, "WAN benchmark").
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")/../bench" && pwd)/wan-bench.sh" "$@"
