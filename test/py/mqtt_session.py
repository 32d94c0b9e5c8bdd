"""A persistent session in phases, so the test can reconnect or restart the broker in between.
phase=setup: connect (3.1.1 clean_session=False / 5 clean_start + session expiry), subscribe
at `qos`, disconnect. phase=publish: another client publishes n messages at `qos`, all acknowledged.
phase=receive: reconnect without clean start; the n messages arrive once and in order without
subscribing again; an 'end' marker published on this connection proves the subscription is back.
Options: version=3|5, phase, id, topic, n=200, expiry=300, qos=1 (1 or 2), share=GROUP (the
subscription is then the shared `$share/GROUP/topic`)."""
from mqtt_common import Client, payloads, run


def main(host, port, prefix, opts):
    version = int(opts.get('version', '5'))
    phase, cid, topic = opts['phase'], opts['id'], opts['topic']
    n = int(opts.get('n', '200'))
    expiry = int(opts.get('expiry', '300'))
    qos = int(opts.get('qos', '1'))
    if phase == 'setup':
        c = Client(host, port, cid, version, clean=version == 5, session_expiry=expiry)
        if version != 5:
            c = Client(host, port, cid, version, clean=False)
        connack = c.connect()
        share = opts.get('share')
        granted = c.subscribe(topic if share is None else '$share/%s/%s' % (share, topic), qos)
        c.disconnect()
        return {'connack': connack, 'granted': granted}
    if phase == 'publish':
        p = Client(host, port, '%s-publisher' % prefix, version)
        p.connect()
        mids = [p.publish(topic, 'm%d' % i, qos) for i in range(n)]
        p.wait_published(mids, timeout=20)
        p.disconnect()
        return {'acked': len(mids)}
    if phase == 'receive':
        c = Client(host, port, cid, version, clean=False, session_expiry=expiry)
        connack = c.connect()
        c.wait_messages(n, timeout=20)
        c.publish(topic, 'end', qos)
        c.wait(lambda: c.messages[-1].payload == b'end', "the 'end' marker")
        got = list(c.messages)
        c.disconnect()
        bodies = payloads(got[:-1])
        return {
            'connack': connack,
            'count': len(bodies),
            'in_order': bodies == ['m%d' % i for i in range(n)],
            'qos': sorted({m.qos for m in got}),
        }
    raise ValueError('unknown phase %r' % phase)


run(main)
