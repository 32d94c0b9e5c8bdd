"""An exclusive queue declared by one connection is locked (405) for another."""
import pika

from common import connect, run


def main(url, prefix):
    owner = connect(url)
    och = owner.channel()
    named = prefix + '-excl'
    och.queue_declare(named, exclusive=True)
    server_named = och.queue_declare('', exclusive=True).method.queue
    other = connect(url)
    result = {'server_named': server_named}
    for label, op in (
        ('declare', lambda c: c.queue_declare(named, exclusive=True)),
        ('passive', lambda c: c.queue_declare(server_named, passive=True)),
        ('consume', lambda c: c.basic_consume(named, lambda *a: None)),
        ('get', lambda c: c.basic_get(named)),
    ):
        c = other.channel()
        try:
            op(c)
            result[label] = 'no error'
        except pika.exceptions.ChannelClosedByBroker as e:
            result[label] = [e.reply_code, e.reply_text]
    owner.close()
    c = other.channel()
    try:
        c.queue_declare(named, passive=True)
        result['after_owner_closed'] = 'still there'
    except pika.exceptions.ChannelClosedByBroker as e:
        result['after_owner_closed'] = [e.reply_code, e.reply_text]
    other.close()
    return result


run(main)
