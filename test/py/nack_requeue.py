"""basic_nack(multiple, requeue) puts messages back in their original order, redelivered."""
from common import connect, consume_n, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    q = prefix + '-nack'
    ch.queue_declare(q, exclusive=True)
    for b in (b'a', b'b', b'c'):
        ch.basic_publish('', q, b)
    first = consume_n(conn, ch, q, 3)
    ch.basic_nack(first[2][0].delivery_tag, multiple=True, requeue=True)
    again = consume_n(conn, ch, q, 3)
    ch.basic_reject(again[0][0].delivery_tag, requeue=False)
    ch.basic_ack(again[2][0].delivery_tag, multiple=True)
    left = ch.queue_declare(q, passive=True).method.message_count
    conn.close()
    return {
        'first': [b.decode() for _m, _p, b in first],
        'first_redelivered': [m.redelivered for m, _p, _b in first],
        'again': [b.decode() for _m, _p, b in again],
        'again_redelivered': [m.redelivered for m, _p, _b in again],
        'left': left,
    }


run(main)
