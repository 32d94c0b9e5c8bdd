"""Errors as pika reports them: channel errors (404, 406) and connection errors (503, 530)."""
import pika

from common import connect, params, run


def main(url, prefix):
    result = {}
    conn = connect(url)
    ch = conn.channel()
    try:
        ch.queue_declare(prefix + '-missing', passive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        result['passive'] = [e.reply_code, e.reply_text]
    ch = conn.channel()
    q = prefix + '-ineq'
    ch.queue_declare(q, durable=False, auto_delete=True)
    try:
        ch.queue_declare(q, durable=True, auto_delete=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        result['inequivalent'] = [e.reply_code, e.reply_text]
    ch = conn.channel()
    ch.basic_ack(42)
    try:
        ch.queue_declare('', exclusive=True)
    except pika.exceptions.ChannelClosedByBroker as e:
        result['unknown_tag'] = [e.reply_code, e.reply_text]
    ch = conn.channel()
    ch.confirm_delivery()
    try:
        ch.tx_select()
    except pika.exceptions.ChannelClosedByBroker as e:
        result['confirm_then_tx'] = [e.reply_code, e.reply_text]
    ch = conn.channel()
    ch.queue_delete(q)
    try:
        ch.exchange_declare(prefix + '-x', 'no-such-type')
    except pika.exceptions.ConnectionClosedByBroker as e:
        result['exchange_type'] = [e.reply_code, e.reply_text]
    try:
        p = params(url, virtual_host=prefix + '-vhost')
        pika.BlockingConnection(p).close()
        result['vhost'] = 'no error'
    except pika.exceptions.ProbableAccessDeniedError as e:
        result['vhost'] = str(e)
    try:
        p = params(url, credentials=pika.PlainCredentials('guest', 'wrong'))
        pika.BlockingConnection(p).close()
        result['login'] = 'no error'
    except pika.exceptions.ProbableAuthenticationError as e:
        result['login'] = str(e)
    result['closed_by_503'] = conn.is_closed
    return result


run(main)
