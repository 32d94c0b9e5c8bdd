"""Publish three messages with properties and consume them with basic_consume."""
import pika

from common import connect, consume_n, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    q = prefix + '-pubsub'
    ch.queue_declare(q, exclusive=True)
    props = pika.BasicProperties(
        content_type='application/json', content_encoding='utf-8', headers={'n': 1, 's': 'x', 'nested': {'b': True}},
        delivery_mode=2, priority=4, correlation_id='corr', reply_to='back', expiration='60000',
        message_id='mid', timestamp=1700000000, type='kind', user_id='guest', app_id='pika')
    ch.basic_publish('', q, b'{"a":1}', props)
    ch.basic_publish('', q, b'two')
    ch.basic_publish('', q, b'')
    got = consume_n(conn, ch, q, 3)
    for method, _p, _b in got:
        ch.basic_ack(method.delivery_tag)
    first = got[0][1]
    conn.close()
    return {
        'bodies': [b.decode() for _m, _p, b in got],
        'tags': [m.delivery_tag for m, _p, _b in got],
        'redelivered': [m.redelivered for m, _p, _b in got],
        'routing_keys': [m.routing_key == q for m, _p, _b in got],
        'props': {k: getattr(first, k) for k in (
            'content_type', 'content_encoding', 'headers', 'delivery_mode', 'priority', 'correlation_id',
            'reply_to', 'expiration', 'message_id', 'timestamp', 'type', 'user_id', 'app_id')},
    }


run(main)
