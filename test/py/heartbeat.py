"""heartbeat=1: a connection that keeps processing events stays open; one that does not is dropped."""
import time

import pika

from common import connect, run


def main(url, prefix):
    alive = connect(url, heartbeat=1)
    neglected = connect(url, heartbeat=1)
    negotiated = alive._impl.params.heartbeat  # pylint: disable=protected-access
    started = time.monotonic()
    alive.sleep(4.5)  # processes events (and heartbeats) of `alive` only
    elapsed = time.monotonic() - started
    ch = alive.channel()
    q = ch.queue_declare('', exclusive=True).method.queue
    ch.basic_publish('', q, b'still here')
    _m, _p, body = ch.basic_get(q, auto_ack=True)
    alive.close()
    try:
        neglected.channel()
        dropped = 'no error'
    except (pika.exceptions.AMQPConnectionError, pika.exceptions.StreamLostError) as e:
        dropped = type(e).__name__
    return {'negotiated': negotiated, 'slept': elapsed >= 4.5, 'body': body.decode(), 'neglected': dropped}


run(main)
