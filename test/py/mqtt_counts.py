"""QoS 0, 1 and 2 end to end: one publisher sends n messages per QoS; the subscriber gets each
once, in order, at that QoS. An 'end' marker published last bounds the wait: whatever precedes it
has arrived. Options: version=3|5, n=500, transport=tcp|websockets, ws_path=/mqtt."""
from mqtt_common import Client, payloads, run


def main(host, port, prefix, opts):
    version = int(opts.get('version', '5'))
    n = int(opts.get('n', '500'))
    transport = opts.get('transport', 'tcp')
    extra = dict(version=version, transport=transport, ws_path=opts.get('ws_path', '/mqtt'))
    out = {}
    for qos in (0, 1, 2):
        topic = '%s/counts/q%d' % (prefix, qos)
        sub = Client(host, port, '%s-sub%d' % (prefix, qos), **extra)
        sub.connect()
        granted = sub.subscribe(topic, qos)
        pub = Client(host, port, '%s-pub%d' % (prefix, qos), max_inflight=100, **extra)
        pub.connect()
        mids = [pub.publish(topic, str(i), qos) for i in range(n)]
        mids.append(pub.publish(topic, 'end', qos))
        if qos > 0:
            pub.wait_published(mids, timeout=20)
        sub.wait(lambda: sub.messages and sub.messages[-1].payload == b'end', "the 'end' marker", 20)
        got = list(sub.messages)
        pub.disconnect()
        sub.disconnect()
        bodies = payloads(got[:-1])
        out[str(qos)] = {
            'granted': granted,
            'count': len(bodies),
            'in_order': bodies == [str(i) for i in range(n)],
            'unique': len(set(bodies)),
            'qos': sorted({m.qos for m in got}),
            'topics': sorted({m.topic for m in got}) == [topic],
        }
    return out


run(main)
