"""tx_select / tx_commit / tx_rollback for publishes and acks."""
from common import connect, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    probe = conn.channel()
    q = prefix + '-tx'
    ch.queue_declare(q, exclusive=True)
    count = lambda: probe.queue_declare(q, passive=True).method.message_count  # noqa: E731
    ch.tx_select()
    ch.basic_publish('', q, b'a')
    ch.basic_publish('', q, b'b')
    before_commit = count()
    ch.tx_commit()
    after_commit = count()
    ch.basic_publish('', q, b'c')
    ch.tx_rollback()
    after_rollback = count()
    method, _p, body = ch.basic_get(q)
    ch.basic_ack(method.delivery_tag)
    ch.tx_rollback()  # the ack is forgotten: 'a' stays unacked
    unacked_after_rollback = count()
    ch.basic_ack(method.delivery_tag)
    ch.tx_commit()
    ch.close()  # nothing unacked is left to requeue
    remaining = [probe.basic_get(q, auto_ack=True)[2] for _ in range(2)]
    conn.close()
    return {
        'before_commit': before_commit,
        'after_commit': after_commit,
        'after_rollback': after_rollback,
        'got': body.decode(),
        'unacked_after_rollback': unacked_after_rollback,
        'remaining': [r.decode() if r is not None else None for r in remaining],
    }


run(main)
