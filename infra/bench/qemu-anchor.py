#!/usr/bin/env python3
"""The anchor of the whole-VM benchmark: QEMU's own storage-plus-memory migration, driven over QMP the way
`virsh migrate --live --copy-storage-all` drives it.

  destination (started with -S -incoming defer):  nbd-server-start on its link address, nbd-server-add of its disk
                                                  (writable), migrate-incoming on a TCP port
  source:    blockdev-add of the destination's NBD export, blockdev-mirror sync=full of the disk into it
             (copy-mode write-blocking by default, what `virsh migrate --copy-storage-synchronous-writes` asks for: in
             QEMU's default background mode a guest that writes more often than once per WAN round trip keeps a
             request in flight for ever and the mirror never becomes READY), wait until
             the mirror is READY (bulk copy done, writes now mirrored), then migrate (memory) with
             pause-before-switchover; at pre-switchover (source vCPUs stopped) block-job-cancel of the ready mirror (it
             finishes in sync, no pivot), blockdev-del of the NBD target, migrate-continue, wait for completed
  destination: nbd-server-stop, cont: the VM runs there

Prints one JSON object: seconds (mirror start to cont), mirrorSeconds, memorySeconds, memoryBytes
(query-migrate ram.transferred), diskBytes (the mirror's length), qemuDowntimeMs (query-migrate's downtime).

usage: qemu-anchor.py --src-qmp SOCK --dst-qmp SOCK --dst-ip IP --nbd-port P --migrate-port P [--disk-node disk0]
                      [--copy-mode write-blocking|background]
"""
import argparse
import json
import socket
import sys
import time


class Qmp:
    """A minimal QMP client over a unix socket: one command at a time, events kept aside."""

    def __init__(self, path, timeout=600.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.command("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def command(self, _name, **arguments):
        message = {"execute": _name}
        if arguments:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"{_name}: {reply['error'].get('desc', reply['error'])}")
            return reply.get("return")


def wait(what, predicate, timeout=900.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(interval)


def migration_state(qmp, wanted):
    status = qmp.command("query-migrate")
    state = status.get("status")
    if state in ("failed", "cancelled"):
        raise RuntimeError(f"migration {state}: {status.get('error-desc', '')}")
    return status if state == wanted else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--src-qmp", required=True)
    parser.add_argument("--dst-qmp", required=True)
    parser.add_argument("--dst-ip", required=True)
    parser.add_argument("--nbd-port", type=int, required=True)
    parser.add_argument("--migrate-port", type=int, required=True)
    parser.add_argument("--disk-node", default="disk0")
    parser.add_argument("--copy-mode", choices=["write-blocking", "background"], default="write-blocking")
    args = parser.parse_args()

    src, dst = Qmp(args.src_qmp), Qmp(args.dst_qmp)
    dst.command("migrate-incoming", uri=f"tcp:{args.dst_ip}:{args.migrate_port}")
    dst.command("nbd-server-start", addr={"type": "inet", "data": {"host": args.dst_ip, "port": str(args.nbd_port)}})
    dst.command("block-export-add", type="nbd", id="mirror", **{"node-name": args.disk_node}, writable=True, name=args.disk_node)

    t0 = time.monotonic()
    src.command("blockdev-add", driver="nbd", **{"node-name": "mirror-target"},
                server={"type": "inet", "host": args.dst_ip, "port": str(args.nbd_port)}, export=args.disk_node)
    src.command("blockdev-mirror", **{"job-id": "mirror", "device": args.disk_node, "target": "mirror-target",
                                      "copy-mode": args.copy_mode}, sync="full")

    def ready():
        jobs = src.command("query-block-jobs")
        if not jobs:
            raise RuntimeError("the mirror job ended before it was ready")
        return jobs[0] if jobs[0].get("ready") else None

    job = wait("the mirror to be ready", ready)
    t_ready = time.monotonic()

    # pause-before-switchover: the mirror is completed while the source's vCPUs are stopped and before the device
    # state is sent, so the destination's disk equals the source's when the destination loads the devices.
    src.command("migrate-set-capabilities", capabilities=[{"capability": "pause-before-switchover", "state": True}])
    src.command("migrate", uri=f"tcp:{args.dst_ip}:{args.migrate_port}")
    wait("the memory migration to reach pre-switchover", lambda: migration_state(src, "pre-switchover"))
    t_paused = time.monotonic()
    # Cancelling a READY mirror lets it finish in sync with the target, without a pivot.
    src.command("block-job-cancel", device="mirror")
    wait("the mirror job to finish", lambda: not src.command("query-block-jobs"))
    src.command("blockdev-del", **{"node-name": "mirror-target"})
    src.command("migrate-continue", state="pre-switchover")
    status = wait("the memory migration to complete", lambda: migration_state(src, "completed"))
    dst.command("nbd-server-stop")  # closes the export too
    dst.command("cont")
    t_end = time.monotonic()

    ram = status.get("ram", {})
    print(json.dumps({
        "seconds": round(t_end - t0, 2),
        "mirrorSeconds": round(t_ready - t0, 2),
        "memorySeconds": round(t_paused - t_ready, 2),
        "memoryBytes": ram.get("transferred", 0),
        "diskBytes": job.get("len", 0),
        "qemuDowntimeMs": status.get("downtime"),
        "switchoverMs": round((t_end - t_paused) * 1000, 1),
    }))


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError) as e:
        print(f"qemu-anchor.py: {e}", file=sys.stderr)
        sys.exit(1)
