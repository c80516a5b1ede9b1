#!/usr/bin/env python3
"""Bytes a casync destination must fetch: chunks of TARGET.caibx that are not in SEED.caibx.

usage: caibx-delta.py TARGET.caibx SEED.caibx STORE
Prints JSON: targetChunks, uniqueTargetChunks, seedChunks, missingChunks, missingBytes (the sizes of the
compressed .cacnk files in STORE for those chunks), indexBytes (TARGET.caibx's size).
The seed side is what `casync extract --seed` finds by chunking the seed with the same chunker parameters.
"""
import json
import os
import struct
import sys

CA_FORMAT_INDEX = 0x96824D9C7B129FF9
CA_FORMAT_TABLE = 0xE75B9E112F17417D
CA_FORMAT_TABLE_TAIL_MARKER = 0x4B4F050E5549ECD1


def chunk_ids(path):
    """Chunk ids (hex) in file order, parsed from a .caibx/.caidx: index header, table header, 40-byte items, tail."""
    with open(path, "rb") as f:
        data = f.read()
    size, kind = struct.unpack_from("<QQ", data, 0)
    if kind != CA_FORMAT_INDEX or size != 48:
        raise SystemExit(f"{path}: not a casync index (header type {kind:#x}, size {size})")
    tsize, tkind = struct.unpack_from("<QQ", data, 48)
    if tkind != CA_FORMAT_TABLE or tsize != 0xFFFFFFFFFFFFFFFF:
        raise SystemExit(f"{path}: no chunk table after the index header")
    pos, ids = 64, []
    while pos + 40 <= len(data):
        offset = struct.unpack_from("<Q", data, pos)[0]
        if offset == 0:  # the tail begins with two zero words
            break
        ids.append(data[pos + 8:pos + 40].hex())
        pos += 40
    if pos + 40 != len(data) or struct.unpack_from("<Q", data, pos + 32)[0] != CA_FORMAT_TABLE_TAIL_MARKER:
        raise SystemExit(f"{path}: chunk table tail missing or misplaced")
    return ids


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    target, seed, store = sys.argv[1:]
    t_ids = chunk_ids(target)
    s_ids = set(chunk_ids(seed))
    missing = sorted(set(t_ids) - s_ids)
    missing_bytes = sum(os.path.getsize(os.path.join(store, c[:4], c + ".cacnk")) for c in missing)
    print(json.dumps({
        "targetChunks": len(t_ids),
        "uniqueTargetChunks": len(set(t_ids)),
        "seedChunks": len(s_ids),
        "missingChunks": len(missing),
        "missingBytes": missing_bytes,
        "indexBytes": os.path.getsize(target),
    }))


if __name__ == "__main__":
    main()
