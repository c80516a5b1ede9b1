#!/usr/bin/env python3
"""How busy the emulated WAN link was in each phase of a Teleport migration.

  link-timeline.py sample --dev DEV --out FILE [--period-ms 20]
      run inside the source namespace: appends "unix_time tx_bytes rx_bytes" of DEV every period until killed
  link-timeline.py phases --samples FILE --log SEND_LOG --rate BITS_PER_S [--start UNIX_TIME] [--end UNIX_TIME]
      reads the phase changes `teleport send --json` logged (compact JSON on stderr) and prints, per phase, its
      duration, the bytes that entered the link src->dst, and that as a share of what the link could carry; with
      --start/--end the time before the first and after the last logged phase shows as "start-up" and "exit"
"""
import argparse
import bisect
import json
import os
import re
import signal
import sys
import time
from datetime import datetime, time as dt_time


def sample(dev, out, period):
    base = f"/sys/class/net/{dev}/statistics"
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    with open(out, "w", buffering=1) as f:
        while running[0]:
            with open(f"{base}/tx_bytes") as tx, open(f"{base}/rx_bytes") as rx:
                f.write(f"{time.time():.4f} {tx.read().strip()} {rx.read().strip()}\n")
            time.sleep(period)


def load_samples(path):
    times, tx = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                times.append(float(parts[0]))
                tx.append(int(parts[1]))
    if len(times) < 2:
        sys.exit(f"link-timeline: fewer than two samples in {path}")
    return times, tx


def bytes_at(times, tx, t):
    """Bytes sent by time t, interpolated between the two samples around it."""
    i = bisect.bisect_left(times, t)
    if i <= 0:
        return tx[0]
    if i >= len(times):
        return tx[-1]
    t0, t1 = times[i - 1], times[i]
    return tx[i - 1] + (tx[i] - tx[i - 1]) * (t - t0) / (t1 - t0) if t1 > t0 else tx[i]


# A console log line: "09:46:58.015 INF send: phase "Index"" (local time of day).
TEXT_PHASE = re.compile(r'^(\d\d:\d\d:\d\d\.\d+) \w+ send: phase "?(\w+)"?\s*$')


def load_phases(log, day_of):
    """Phase changes from compact JSON log events or console lines (whose time of day is taken on day_of's date)."""
    phases = []
    with open(log) as f:
        for line in f:
            text = TEXT_PHASE.match(line)
            if text:
                day = datetime.fromtimestamp(day_of).date()
                stamp = datetime.combine(day, dt_time.fromisoformat(text.group(1))).timestamp()
                phases.append((text.group(2), stamp))
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("@mt") == "{Side}: phase {Phase}":
                stamp = datetime.fromisoformat(event["@t"].replace("Z", "+00:00")).timestamp()
                phases.append((event["Phase"], stamp))
    if not phases:
        sys.exit(f"link-timeline: no phase changes in {log} (was it the log of `teleport send`?)")
    return phases


def phases_report(samples, log, rate, start, end):
    times, tx = load_samples(samples)
    marks = load_phases(log, start if start is not None else times[0])
    if start is not None:
        marks.insert(0, ("start-up", start))
    if end is not None:
        marks.append(("exit", end))
    else:
        marks.append(("end", marks[-1][1]))
    print("| phase | seconds | bytes src->dst | link busy |")
    print("| --- | ---: | ---: | ---: |")
    for (name, t0), (_, t1) in zip(marks, marks[1:]):
        seconds = t1 - t0
        sent = bytes_at(times, tx, t1) - bytes_at(times, tx, t0)
        busy = sent * 8 / rate / seconds * 100 if seconds > 0 else 0
        print(f"| {name} | {seconds:.2f} | {sent:,.0f} | {busy:.0f} % |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--dev", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--period-ms", type=float, default=20)
    p = sub.add_parser("phases")
    p.add_argument("--samples", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--start", type=float)
    p.add_argument("--end", type=float)
    args = parser.parse_args()
    if args.command == "sample":
        if not os.path.isdir(f"/sys/class/net/{args.dev}"):
            sys.exit(f"link-timeline: no device {args.dev} here (run it in the link's source namespace)")
        sample(args.dev, args.out, args.period_ms / 1000)
    else:
        phases_report(args.samples, args.log, args.rate, args.start, args.end)


if __name__ == "__main__":
    main()
