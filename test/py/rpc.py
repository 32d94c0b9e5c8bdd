"""Direct reply-to RPC between two connections: the broker rewrites reply_to."""
import time

import pika

from common import connect, run


def main(url, prefix):
    server = connect(url)
    sch = server.channel()
    rpc_q = prefix + '-rpc'
    sch.queue_declare(rpc_q, exclusive=True)
    seen_reply_to = []

    def on_request(ch, method, props, body):
        seen_reply_to.append(props.reply_to)
        ch.basic_publish('', props.reply_to, body.upper(),
                         pika.BasicProperties(correlation_id=props.correlation_id))
        ch.basic_ack(method.delivery_tag)

    sch.basic_consume(rpc_q, on_request)

    client = connect(url)
    cch = client.channel()
    probe = cch.queue_declare('amq.rabbitmq.reply-to', passive=True).method
    replies = []
    cch.basic_consume('amq.rabbitmq.reply-to', lambda ch, m, p, b: replies.append((p.correlation_id, b.decode())),
                      auto_ack=True)
    for i, word in enumerate(('ping', 'pong')):
        cch.basic_publish('', rpc_q, word.encode(),
                          pika.BasicProperties(reply_to='amq.rabbitmq.reply-to', correlation_id='c%d' % i))
    deadline = time.monotonic() + 10
    while len(replies) < 2 and time.monotonic() < deadline:
        server.process_data_events(time_limit=0.05)
        client.process_data_events(time_limit=0.05)
    server.close()
    client.close()
    return {
        'replies': replies,
        'reply_to_prefix': all(r.startswith('amq.rabbitmq.reply-to.') for r in seen_reply_to),
        'one_address': len(set(seen_reply_to)) == 1,
        'probe': [probe.queue, probe.message_count, probe.consumer_count],
    }


run(main)
