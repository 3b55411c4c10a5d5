#!/usr/bin/env python3
"""The Python side of PikaInteroperabilityTests: publishes or consumes one message on a queue with pika.

Usage:
  pika_peer.py publish URL QUEUE OUTPUT   publishes one persistent message (with publisher confirms) to QUEUE through
                                          the default exchange, and writes {"published": true} to OUTPUT
  pika_peer.py consume URL QUEUE OUTPUT   waits (at most 10 s) for one message on QUEUE, acks it, and writes its body
                                          and properties as JSON to OUTPUT

Exit status 0 on success; otherwise 1 with the reason on stderr. Exit 3 when pika is not importable.
"""
import json
import sys
import time

try:
    import pika
except ImportError as error:  # the Swift test turns this into a failure in CI and a skip elsewhere
    print(f"pika is not importable: {error}", file=sys.stderr)
    sys.exit(3)

# What pika publishes (the Swift test checks the same values).
PIKA_BODY = '{"order_id":"from-pika","total":12.5,"note":"h\u00e9llo"}'
PIKA_PROPERTIES = dict(
    content_type="application/json",
    message_id="pika-msg-1",
    type="OrderCreated",
    timestamp=1_700_000_123,
    delivery_mode=2,
    headers={"source": "pika"},
)


def connect(url):
    parameters = pika.URLParameters(url)
    parameters.socket_timeout = 10
    parameters.blocked_connection_timeout = 10
    return pika.BlockingConnection(parameters)


def publish(url, queue, output):
    connection = connect(url)
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        exchange="",
        routing_key=queue,
        body=PIKA_BODY.encode("utf-8"),
        properties=pika.BasicProperties(**PIKA_PROPERTIES),
        mandatory=True,
    )
    connection.close()
    with open(output, "w") as file:
        json.dump({"published": True}, file)


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def consume(url, queue, output):
    connection = connect(url)
    channel = connection.channel()
    deadline = time.monotonic() + 10
    while True:
        method, properties, body = channel.basic_get(queue=queue, auto_ack=False)
        if method is not None:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"no message on {queue} within 10 s")
        time.sleep(0.05)
    channel.basic_ack(method.delivery_tag)
    connection.close()
    headers = {key: text(value) for key, value in (properties.headers or {}).items()}
    with open(output, "w") as file:
        json.dump(
            {
                "body": body.decode("utf-8"),
                "content_type": properties.content_type,
                "message_id": properties.message_id,
                "type": properties.type,
                "timestamp": properties.timestamp,
                "delivery_mode": properties.delivery_mode,
                "headers": headers,
                "routing_key": method.routing_key,
                "redelivered": method.redelivered,
            },
            file,
        )


def main(argv):
    if len(argv) != 5 or argv[1] not in ("publish", "consume"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, url, queue, output = argv[1:]
    try:
        (publish if mode == "publish" else consume)(url, queue, output)
    except Exception as error:  # noqa: BLE001 - report any failure to the test
        print(f"pika_peer {mode} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
