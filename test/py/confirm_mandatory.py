"""confirm_delivery: routable publishes succeed; a mandatory unroutable one raises UnroutableError."""
import pika

from common import connect, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    ch.confirm_delivery()
    q = prefix + '-confirm'
    x = prefix + '-confirm-x'
    ch.queue_declare(q, exclusive=True)
    ch.exchange_declare(x, 'direct', auto_delete=False)
    ch.queue_bind(q, x, 'k')
    for i in range(200):
        ch.basic_publish(x, 'k', str(i).encode(), mandatory=True)
    result = {'routed': ch.queue_declare(q, passive=True).method.message_count}
    try:
        ch.basic_publish(x, 'nowhere', b'lost', mandatory=True)
        result['unroutable'] = 'no error'
    except pika.exceptions.UnroutableError as e:
        msgs = e.messages
        result['unroutable'] = {
            'count': len(msgs),
            'reply_code': msgs[0].method.reply_code,
            'reply_text': msgs[0].method.reply_text,
            'exchange': msgs[0].method.exchange == x,
            'routing_key': msgs[0].method.routing_key,
            'body': msgs[0].body.decode(),
        }
    # Not mandatory: silently dropped, still confirmed.
    ch.basic_publish(x, 'nowhere', b'dropped')
    result['channel_open'] = ch.is_open
    ch.exchange_delete(x)
    conn.close()
    return result


run(main)
