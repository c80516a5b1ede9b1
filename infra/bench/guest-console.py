#!/usr/bin/env python3
"""Reads the time-stamped serial consoles of a guest that moved between two QEMU processes (lines
"EPOCH-SECONDS TEXT", as wan-whole-vm.sh writes them) and prints one JSON object:

  lastSourceSeq / firstDestinationSeq / lastSeq   the writer's "TPW seq=N" lines on each side
  continued     the destination's console goes on from the source's last record (N+1), the writer never restarted
                ("TPW guest ready" appears once, on the source) and never failed: the guest's memory moved
  longestGapMs  the longest time between two consecutive records across both consoles: the downtime the guest saw
  longestGapSeq the record that ended that gap (a gap before firstDestinationSeq lies in the pre-copy, not the switch)
  switchGapMs   the time from the source's last record to the destination's first: the part of the guest's downtime
                the switchover itself caused (the longest gap can lie elsewhere on a loaded machine, e.g. a starved
                TCG vCPU during the pre-copy)
  errors        any "TPW error" / I/O error line

usage: guest-console.py SOURCE.log DESTINATION.log
"""
import json
import re
import sys

SEQ = re.compile(r"TPW seq=(\d+)")


def read(path):
    lines = []
    # Lines end at "\n" only: the console's "\r" (the BIOS's, before "TPW guest ready") is not a new, unstamped line.
    with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
        for raw in f:
            stamp, _, text = raw.rstrip("\r\n").partition(" ")
            try:
                lines.append((float(stamp), text))
            except ValueError:
                continue
    return lines


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    source, destination = read(sys.argv[1]), read(sys.argv[2])
    records = [(t, int(m.group(1)), side) for side, lines in (("src", source), ("dst", destination))
               for t, text in lines for m in [SEQ.search(text)] if m]
    records.sort()
    src_seqs = [s for _, s, side in records if side == "src"]
    dst_seqs = [s for _, s, side in records if side == "dst"]
    ordered = all(b[1] == a[1] + 1 for a, b in zip(records, records[1:])) if records else False
    gap, gap_seq = max(((b[0] - a[0], b[1]) for a, b in zip(records, records[1:])), default=(0.0, None))
    src_last = max((t for t, _, side in records if side == "src"), default=None)
    dst_first = min((t for t, _, side in records if side == "dst"), default=None)
    switch = dst_first - src_last if src_last is not None and dst_first is not None else None
    ready = sum("TPW guest ready" in text for _, text in source + destination)
    errors = [text for _, text in source + destination
              if "TPW error" in text or "I/O error" in text or (text.startswith("TPW exit") and text.strip() != "TPW exit 0")]
    continued = bool(src_seqs and dst_seqs) and dst_seqs[0] == src_seqs[-1] + 1 and ordered and ready == 1 and not errors
    print(json.dumps({
        "lastSourceSeq": src_seqs[-1] if src_seqs else None,
        "firstDestinationSeq": dst_seqs[0] if dst_seqs else None,
        "lastSeq": records[-1][1] if records else None,
        "continued": continued,
        "longestGapMs": round(gap * 1000, 1),
        "longestGapSeq": gap_seq,
        "switchGapMs": round(switch * 1000, 1) if switch is not None else None,
        "errors": errors[:3],
    }))


if __name__ == "__main__":
    main()
