#!/usr/bin/env python3
"""A loopback TCP relay that counts the bytes crossing it: an independent check of a tool's own byte count.

usage: tcp-count-relay.py LISTEN_PORT TARGET_PORT REPORT_FILE
Accepts on 127.0.0.1:LISTEN_PORT, connects each client to 127.0.0.1:TARGET_PORT and copies both ways.
Every time a connection closes it rewrites REPORT_FILE with the totals so far as JSON:
connections, upBytes (client -> target), downBytes (target -> client). Stops on SIGTERM.
Only TCP payload is counted (no TCP/IP headers), the same basis as the other tools' own figures.
"""
import json
import os
import socket
import sys
import threading

lock = threading.Lock()
totals = {"connections": 0, "upBytes": 0, "downBytes": 0}


def pump(src, dst, key):
    moved = 0
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
            moved += len(data)
    except OSError:
        pass
    finally:
        # Pass the half-close on so the far side sees end-of-stream exactly as without the relay.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    with lock:
        totals[key] += moved


def serve(client, target_port, report):
    upstream = socket.create_connection(("127.0.0.1", target_port))
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = threading.Thread(target=pump, args=(client, upstream, "upBytes"))
    down = threading.Thread(target=pump, args=(upstream, client, "downBytes"))
    up.start()
    down.start()
    up.join()
    down.join()
    client.close()
    upstream.close()
    with lock:
        totals["connections"] += 1
        tmp = report + ".tmp"
        with open(tmp, "w") as f:
            json.dump(totals, f)
        os.replace(tmp, report)


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    listen_port, target_port, report = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen_port))
    server.listen(8)
    while True:
        client, _ = server.accept()
        threading.Thread(target=serve, args=(client, target_port, report), daemon=True).start()


if __name__ == "__main__":
    main()
