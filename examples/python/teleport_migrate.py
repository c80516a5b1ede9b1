#!/usr/bin/python3
"""Starts a Teleport migration from outside .NET and follows it to its end.

Publishes MigrationRequested in MassTransit's JSON envelope (contracts/asyncapi.yaml describes it) and prints one
line per event of that migration until MigrationSucceeded (exit 0) or MigrationFailed (exit 1); no outcome within
--timeout exits 2, and a request no orchestrator queue is bound to exits 3 (nothing is published then).

Needs pika (Debian: python3-pika). Run with the system interpreter: /usr/bin/python3 teleport_migrate.py --help
"""

import argparse
import datetime
import json
import os
import socket
import sys
import time
import uuid

import pika
import pika.exceptions

CONTENT_TYPE = "application/vnd.masstransit+json"
NAMESPACE = "Teleport.Contracts"

# Events worth following: progress, then the two outcomes.
PROGRESS = ["DestinationPrepared", "IndexStreamed", "BlocksRequested", "CopyRoundCompleted", "DirtyBelowThreshold",
            "MemoryMigrationProgress", "VmPaused", "TargetSwitched", "MigrationCompleted", "VmResumed"]
OUTCOMES = ["MigrationSucceeded", "MigrationFailed"]


def exchange_of(message_type):
    """MassTransit names a message type's exchange Namespace:Type."""
    return f"{NAMESPACE}:{message_type}"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def envelope(message_type, exchange, message, host, virtual_host):
    """The MassTransit envelope around a contract; MassTransit reads messageType to pick the consumer."""
    vhost = "" if virtual_host == "/" else virtual_host
    return {
        "messageId": str(uuid.uuid4()),
        "conversationId": str(uuid.uuid4()),
        "sourceAddress": f"rabbitmq://{host}/{vhost}",
        "destinationAddress": f"rabbitmq://{host}/{vhost}{'/' if vhost else ''}{exchange}",
        "messageType": [f"urn:message:{exchange_of(message_type)}"],
        "message": message,
        "sentTime": now_iso(),
        "headers": {},
        "host": {"machineName": socket.gethostname(), "processName": "teleport_migrate.py", "processId": os.getpid()},
    }


def migration_requested(args, migration_id):
    """MigrationRequested with camelCase names, as the contract's JSON Schema says."""
    options = {"useIndex": not args.no_index}
    if args.bandwidth:
        options["bandwidthBytesPerSecond"] = args.bandwidth
    if args.volume_bytes:
        options["volumeBytes"] = args.volume_bytes
    message = {
        "migrationId": str(migration_id),
        "vmId": args.vm,
        "volumeId": args.volume,
        "sourceStorageId": args.source_storage,
        "destinationStorageId": args.destination_storage,
        "hostId": args.host,
        "options": options,
        "requestedAt": now_iso(),
    }
    if args.destination_host:
        message["destinationHostId"] = args.destination_host
    return message


def describe(message_type, m):
    """One line about an event: its type and the fields an operator reads."""
    fields = {
        "IndexStreamed": ["volumeBytes", "blocks", "zeroBlocks"],
        "BlocksRequested": ["blocksFromIndex", "blocksRequestedFromSource"],
        "CopyRoundCompleted": ["round", "blocksSent", "bytesOnWire", "dirtyBlocksRemaining"],
        "DirtyBelowThreshold": ["rounds", "dirtyBlocks"],
        "MemoryMigrationProgress": ["status", "transferredBytes", "remainingBytes"],
        "MigrationSucceeded": ["volumeBytes", "bytesOnWire", "blocksFromIndex", "rounds", "downtimeMilliseconds"],
        "MigrationFailed": ["phase", "reason"],
    }.get(message_type, [])
    return " ".join([message_type] + [f"{f}={m.get(f)}" for f in fields])


def parse_args(argv):
    p = argparse.ArgumentParser(description="Publish MigrationRequested and follow the migration to its end.")
    p.add_argument("--bus", default=os.environ.get("TELEPORT_BUS", "amqp://guest:guest@localhost:5672/"),
                   help="the broker, amqp://user:pass@HOST:PORT/VHOST (default $TELEPORT_BUS)")
    p.add_argument("--vm", required=True)
    p.add_argument("--volume", required=True)
    p.add_argument("--from", dest="source_storage", required=True, help="source storage worker id")
    p.add_argument("--to", dest="destination_storage", required=True, help="destination storage worker id")
    p.add_argument("--host", required=True, help="the host worker running the VM")
    p.add_argument("--to-host", dest="destination_host", help="destination host worker: a whole-VM move")
    p.add_argument("--bandwidth", type=int, help="bytes per second on the data channel")
    p.add_argument("--volume-bytes", type=int, help="the volume's size, checked by both storage workers")
    p.add_argument("--no-index", action="store_true", help="copy every block, do not rebuild from the destination's index")
    p.add_argument("--orchestrator-queue", help="send to this orchestrators' queue instead of publishing "
                   "(MassTransit's queue exchange of that name; for one orchestrator among several on a shared broker)")
    p.add_argument("--migration-id", type=uuid.UUID, default=None, help="default: a new random id")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the outcome")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    migration_id = args.migration_id or uuid.uuid4()
    parameters = pika.URLParameters(args.bus)
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.confirm_delivery()

    # Our own queue, bound to the events before the request leaves, so that no event can be missed.
    queue = f"teleport-migrate-{migration_id.hex}"
    channel.queue_declare(queue, durable=False, exclusive=True, auto_delete=True)
    for message_type in PROGRESS + OUTCOMES:
        channel.exchange_declare(exchange_of(message_type), exchange_type="fanout", durable=True)
        channel.queue_bind(queue, exchange_of(message_type))

    if args.orchestrator_queue:
        # The orchestrator declared its queue's exchange; a missing one closes the channel (404) below.
        request = args.orchestrator_queue
    else:
        request = exchange_of("MigrationRequested")
        channel.exchange_declare(request, exchange_type="fanout", durable=True)
    body = json.dumps(envelope("MigrationRequested", request, migration_requested(args, migration_id),
                               parameters.host, parameters.virtual_host))
    properties = pika.BasicProperties(content_type=CONTENT_TYPE, delivery_mode=2,
                                      message_id=json.loads(body)["messageId"])
    try:
        # mandatory: a request that reaches no orchestrator's queue comes back instead of vanishing.
        channel.basic_publish(request, "", body.encode(), properties, mandatory=True)
    except (pika.exceptions.UnroutableError, pika.exceptions.ChannelClosedByBroker) as error:
        print(f"migration {migration_id}: no orchestrator queue receives {request} ({error!r})", flush=True)
        if connection.is_open:
            connection.close()
        return 3
    print(f"requested {migration_id}", flush=True)

    deadline = time.monotonic() + args.timeout
    for method, props, payload in channel.consume(queue, inactivity_timeout=1.0):
        if time.monotonic() > deadline:
            break
        if method is None:
            continue
        channel.basic_ack(method.delivery_tag)
        try:
            event = json.loads(payload)
            message_type = event["messageType"][0].rsplit(":", 1)[1]
            message = event["message"]
        except (ValueError, KeyError, IndexError, TypeError) as error:
            print(f"ignored a message that is no MassTransit envelope: {error}", file=sys.stderr, flush=True)
            continue
        if message.get("migrationId") != str(migration_id):
            continue
        print(describe(message_type, message), flush=True)
        if message_type in OUTCOMES:
            channel.cancel()
            connection.close()
            return 0 if message_type == "MigrationSucceeded" else 1

    print(f"migration {migration_id}: no outcome within {args.timeout:g} s", flush=True)
    connection.close()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
