#!/usr/bin/env python3
"""Bytes a zero-skipping copy sends: the non-zero BLOCK-sized blocks of IMAGE (default 4096).

usage: nonzero-bytes.py IMAGE [BLOCK]
Prints JSON: blocks, zeroBlocks, nonZeroBlocks, nonZeroBytes (a short last block counts its own length).
"""
import json
import sys

from image_blocks import image_blocks


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    block = int(sys.argv[2]) if len(sys.argv) == 3 else 4096
    zero = bytes(block)
    blocks = zero_blocks = nonzero_bytes = 0
    for piece in image_blocks(sys.argv[1], block):
        blocks += 1
        if piece == zero[:len(piece)]:
            zero_blocks += 1
        else:
            nonzero_bytes += len(piece)
    print(json.dumps({"blocks": blocks, "zeroBlocks": zero_blocks,
                      "nonZeroBlocks": blocks - zero_blocks, "nonZeroBytes": nonzero_bytes}))


if __name__ == "__main__":
    main()
