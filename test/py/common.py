"""Shared helpers for the pika interop scripts (run by /usr/bin/python3 from test/interop-pika.test.ts).

Every script takes the broker URL and a unique name prefix as arguments, prints one JSON object
with its observations on stdout and exits 0, or exits non-zero with a message on stderr.
"""
import json
import sys
import time
import traceback

import pika


def args():
    if len(sys.argv) < 3:
        sys.exit('usage: %s AMQP_URL NAME_PREFIX' % sys.argv[0])
    return sys.argv[1], sys.argv[2]


def params(url, **kw):
    p = pika.URLParameters(url)
    p.connection_attempts = 1
    p.socket_timeout = 5
    p.blocked_connection_timeout = 10
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def connect(url, **kw):
    return pika.BlockingConnection(params(url, **kw))


def consume_n(conn, ch, queue, n, timeout=10.0, auto_ack=False):
    """Consumes exactly n messages (bounded by timeout); returns (method, properties, body) tuples."""
    got = []
    deadline = time.monotonic() + timeout

    def on_message(_ch, method, props, body):
        got.append((method, props, body))

    tag = ch.basic_consume(queue, on_message, auto_ack=auto_ack)
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError('timed out: %d of %d messages' % (len(got), n))
        conn.process_data_events(time_limit=min(left, 0.2))
    ch.basic_cancel(tag)
    return got


def drain(ch, queue, max_messages=100):
    out = []
    for _ in range(max_messages):
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append(body.decode())
    raise AssertionError('more than %d messages in %s' % (max_messages, queue))


def run(main):
    """Runs main(url, prefix) and prints its result as JSON; any exception exits 1 with a trace."""
    url, prefix = args()
    try:
        result = main(url, prefix)
    except Exception:  # noqa: BLE001 - report everything to the test
        traceback.print_exc()
        sys.exit(1)
    print(json.dumps(result, sort_keys=True, default=str))
