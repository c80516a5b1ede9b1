#!/usr/bin/env python3
"""The least any method can send to turn BASE into TARGET where the destination holds BASE: TARGET's content that
BASE does not hold, compressed as hard as general-purpose compressors go.

usage: content-floor.py BASE TARGET [BLOCK]     (BLOCK default 4096; needs zstd and xz)
Prints JSON: TARGET's non-zero blocks, the unique ones BASE does not hold (novelBlocks, novelBytes), and those novel
blocks compressed by zstd -19 --long=27, xz -9e, and zstd -19 --long=31 --patch-from BASE's non-zero content (a delta
against the whole base at any alignment, which block-level dedup cannot find). Whatever a tool's index, requests or
framing cost comes on top of the smallest of these.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from image_blocks import image_blocks


def nonzero_blocks(path, block):
    zero = bytes(block)
    for piece in image_blocks(path, block):
        if piece != zero[:len(piece)]:
            yield bytes(piece)


def compressed_size(command, source, work):
    out = os.path.join(work, "out")
    with open(out, "wb") as sink:
        # zstd prints advice about --patch-from on stderr; it is shown only when the compressor fails.
        done = subprocess.run(command + [source], stdout=sink, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')}")
    return os.path.getsize(out)


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    base, target = sys.argv[1], sys.argv[2]
    block = int(sys.argv[3]) if len(sys.argv) == 4 else 4096
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as work:
        base_content = os.path.join(work, "base")
        held = set()
        with open(base_content, "wb") as out:
            for piece in nonzero_blocks(base, block):
                held.add(hashlib.sha256(piece).digest())
                out.write(piece)
        novel = os.path.join(work, "novel")
        nonzero = novel_blocks = 0
        with open(novel, "wb") as out:
            for piece in nonzero_blocks(target, block):
                nonzero += 1
                digest = hashlib.sha256(piece).digest()
                if digest not in held:
                    held.add(digest)  # a block repeated within TARGET is sent once
                    novel_blocks += 1
                    out.write(piece)
        novel_bytes = os.path.getsize(novel)
        print(json.dumps({
            "block": block,
            "targetNonZeroBlocks": nonzero,
            "novelBlocks": novel_blocks,
            "novelBytes": novel_bytes,
            "zstd19Long": compressed_size(["zstd", "-q", "-19", "--long=27", "-c"], novel, work),
            "xz9e": compressed_size(["xz", "-9e", "-T1", "-c"], novel, work),
            "zstd19PatchFromBase": compressed_size(
                ["zstd", "-q", "-19", "--long=31", f"--patch-from={base_content}", "-c"], novel, work),
        }))


if __name__ == "__main__":
    main()
