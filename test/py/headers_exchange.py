"""A headers exchange with x-match all and any bindings."""
from common import connect, drain, run


def main(url, prefix):
    conn = connect(url)
    ch = conn.channel()
    ch.confirm_delivery()
    x = prefix + '-headers'
    q_all, q_any = prefix + '-all', prefix + '-any'
    ch.exchange_declare(x, 'headers', auto_delete=False)
    for q in (q_all, q_any):
        ch.queue_declare(q, exclusive=True)
    ch.queue_bind(q_all, x, arguments={'x-match': 'all', 'format': 'pdf', 'pages': 10})
    ch.queue_bind(q_any, x, arguments={'x-match': 'any', 'format': 'pdf', 'pages': 10})
    import pika
    for body, headers in (('both', {'format': 'pdf', 'pages': 10, 'x': 1}), ('format', {'format': 'pdf'}),
                          ('pages', {'format': 'doc', 'pages': 10}), ('none', {'other': 1}), ('no-headers', None)):
        ch.basic_publish(x, '', body.encode(), pika.BasicProperties(headers=headers))
    result = {'all': drain(ch, q_all), 'any': drain(ch, q_any)}
    ch.exchange_delete(x)
    conn.close()
    return result


run(main)
