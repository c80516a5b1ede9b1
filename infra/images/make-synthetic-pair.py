#!/usr/bin/env python3
"""A 2 GiB related pair made in about a minute from the small test images, for measuring the rebuild of many index
hits when the large pair (make-test-images.sh --large, ~40 minutes) is not at hand. Not a stand-in for its bytes:
more index hits (about 254,000), fewer blocks to send (about 6,600).

  syn-base.img  lamp.img, then lamp.img with every byte of its non-zero blocks XOR 0x5a, lamp.img XOR 0x3c and
                base.img XOR 0x77 (new content each time, as compressible as the original); the rest is a hole
  syn-lamp.img  the same with every 40th block of the sequence XOR 0x11 more (content the base does not hold)

usage: make-synthetic-pair.py SMALL_IMAGES_DIR OUT_DIR
"""
import os
import sys

BLOCK = 4096
SIZE = 2048 << 20
LAYOUT = [("lamp.img", 0x00), ("lamp.img", 0x5A), ("lamp.img", 0x3C), ("base.img", 0x77)]


def xor(block: bytes, key: int) -> bytes:
    if key == 0:
        return block
    return (int.from_bytes(block, "little") ^ int.from_bytes(bytes([key]) * len(block), "little")).to_bytes(len(block), "little")


def build(images: str, out: str, changed: bool) -> None:
    with open(out, "wb") as dst:
        dst.truncate(SIZE)
        position = 0
        ordinal = 0
        for name, key in LAYOUT:
            with open(os.path.join(images, name), "rb") as src:
                while block := src.read(BLOCK):
                    ordinal += 1
                    if block.count(0) != len(block):
                        k = key ^ 0x11 if changed and ordinal % 40 == 0 else key
                        dst.seek(position)
                        dst.write(xor(block, k))
                    position += BLOCK
        if position > SIZE:
            sys.exit(f"the small images do not fit in {SIZE} bytes")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    images, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    build(images, os.path.join(out, "syn-base.img"), changed=False)
    build(images, os.path.join(out, "syn-lamp.img"), changed=True)


if __name__ == "__main__":
    main()
