"""Exchange-to-exchange bindings: topic -> fanout -> queue, then unbind."""
from common import connect, drain, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    ch.confirm_delivery()
    src, dst = prefix + '-src', prefix + '-dst'
    q = prefix + '-e2e'
    ch.exchange_declare(src, 'topic', auto_delete=False)
    ch.exchange_declare(dst, 'fanout', auto_delete=False)
    ch.queue_declare(q, exclusive=True)
    ch.exchange_bind(dst, src, 'logs.#')
    ch.queue_bind(q, dst)
    for k in ('logs.error', 'logs.a.b', 'metrics.cpu'):
        ch.basic_publish(src, k, k.encode())
    routed = drain(ch, q)
    ch.exchange_unbind(dst, src, 'logs.#')
    ch.basic_publish(src, 'logs.late', b'late')
    after_unbind = drain(ch, q)
    for x in (src, dst):
        ch.exchange_delete(x)
    conn.close()
    return {'routed': routed, 'after_unbind': after_unbind}


run(main)
