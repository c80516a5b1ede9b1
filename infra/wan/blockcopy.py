#!/usr/bin/env python3
"""The baselines of the WAN benchmark (infra/bench/wan-bench.sh): copy an image over one TCP connection.

  blockcopy.py recv --listen ADDR:PORT --out FILE
  blockcopy.py send --to ADDR:PORT --file FILE [--skip-zero]

Raw copy (default): a 16-byte header (magic, mode, image size) and then the image as a plain byte stream
(sendfile). Zero-skipping copy (--skip-zero): the same header, then records of non-zero 4 KiB blocks
(offset u64, length u32, data), runs of non-zero blocks coalesced, ended by a record of length 0; the
receiver creates a sparse file of the image's size and writes each record at its offset, so skipped blocks
read back as zeros. The receiver checks every length and offset against the announced size and exits
non-zero with a clear message on anything malformed or truncated. Both print one JSON line of counters.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

MAGIC = b"TPBC"
HEADER = struct.Struct(">4sBxxxQ")  # magic, mode (0 raw, 1 skip-zero), padding, image size
RECORD = struct.Struct(">QI")  # offset, length; length 0 ends the stream
BLOCK = 4096
CHUNK = 1 << 20
MAX_RECORD = 64 << 20


def fail(message):
    print(f"blockcopy: {message}", file=sys.stderr)
    sys.exit(1)


def endpoint(text, option):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        print(f"blockcopy: {option} '{text}' must be ADDR:PORT", file=sys.stderr)
        sys.exit(2)
    return host, int(port)


def read_exact(conn, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = conn.recv_into(view[got:], n - got)
        if k == 0:
            fail(f"connection closed after {got} of {n} bytes of a frame")
        got += k
    return buf


def recv(args):
    host, port = endpoint(args.listen, "--listen")
    with socket.create_server((host, port), reuse_port=False) as server:
        conn, _ = server.accept()
    with conn:
        magic, mode, size = HEADER.unpack(read_exact(conn, HEADER.size))
        if magic != MAGIC or mode not in (0, 1):
            fail("not a blockcopy stream (bad magic or mode)")
        received = 0
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.ftruncate(fd, size)
            if mode == 0:
                buf = bytearray(CHUNK)
                view = memoryview(buf)
                while received < size:
                    k = conn.recv_into(view, min(CHUNK, size - received))
                    if k == 0:
                        fail(f"connection closed after {received} of {size} bytes")
                    os.pwrite(fd, view[:k], received)
                    received += k
                if conn.recv(1):
                    fail("data after the end of the image")
            else:
                while True:
                    offset, length = RECORD.unpack(read_exact(conn, RECORD.size))
                    if length == 0:
                        break
                    if length > MAX_RECORD or offset > size or length > size - offset:
                        fail(f"record at {offset} of {length} bytes lies outside the {size}-byte image")
                    os.pwrite(fd, read_exact(conn, length), offset)
                    received += length
            os.fsync(fd)
        finally:
            os.close(fd)
    print(json.dumps({"mode": "skip-zero" if mode else "raw", "size": size, "dataBytes": received}))


def send(args):
    host, port = endpoint(args.to, "--to")
    size = os.path.getsize(args.file)
    start = time.monotonic()
    sent = 0
    with open(args.file, "rb") as f, socket.create_connection((host, port)) as conn:
        conn.sendall(HEADER.pack(MAGIC, 1 if args.skip_zero else 0, size))
        if not args.skip_zero:
            sent = conn.sendfile(f)
        else:
            zero = bytes(BLOCK)
            offset = 0
            while offset < size:
                chunk = f.read(CHUNK)
                if not chunk:
                    fail(f"{args.file} shrank while it was read")
                run_start = None
                for i in range(0, len(chunk), BLOCK):
                    nonzero = chunk[i:i + BLOCK] != zero[: min(BLOCK, len(chunk) - i)]
                    if nonzero and run_start is None:
                        run_start = i
                    elif not nonzero and run_start is not None:
                        conn.sendall(RECORD.pack(offset + run_start, i - run_start) + chunk[run_start:i])
                        sent += i - run_start
                        run_start = None
                if run_start is not None:
                    conn.sendall(RECORD.pack(offset + run_start, len(chunk) - run_start) + chunk[run_start:])
                    sent += len(chunk) - run_start
                offset += len(chunk)
            conn.sendall(RECORD.pack(0, 0))
        conn.shutdown(socket.SHUT_WR)
        # The receiver closes once everything is on its disk; wait for that, so the time covers the whole copy.
        conn.recv(1)
    print(json.dumps({"mode": "skip-zero" if args.skip_zero else "raw", "size": size, "dataBytes": sent,
                      "seconds": round(time.monotonic() - start, 3)}))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("recv", help="receive one image and exit")
    r.add_argument("--listen", required=True)
    r.add_argument("--out", required=True)
    s = sub.add_parser("send", help="send one image")
    s.add_argument("--to", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--skip-zero", action="store_true")
    args = parser.parse_args()
    try:
        recv(args) if args.command == "recv" else send(args)
    except OSError as e:
        fail(str(e))


if __name__ == "__main__":
    main()
