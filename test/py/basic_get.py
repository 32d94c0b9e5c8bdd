"""basic_get on an empty queue, then on a queue with two messages."""
from common import connect, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    ch.confirm_delivery()
    q = prefix + '-get'
    ch.queue_declare(q, exclusive=True)
    empty = ch.basic_get(q)
    ch.basic_publish('', q, b'a')
    ch.basic_publish('', q, b'b')
    m1, p1, b1 = ch.basic_get(q)
    m2, _p2, b2 = ch.basic_get(q, auto_ack=True)
    after = ch.basic_get(q)
    ch.basic_ack(m1.delivery_tag)
    count = ch.queue_declare(q, passive=True).method.message_count
    conn.close()
    return {
        'empty': [x is None for x in empty],
        'bodies': [b1.decode(), b2.decode()],
        'message_counts': [m1.message_count, m2.message_count],
        'tags': [m1.delivery_tag, m2.delivery_tag],
        'redelivered': m1.redelivered,
        'after_empty': after[0] is None,
        'left': count,
    }


run(main)
