"""MQTT 5 limits the client sets: Maximum Packet Size (3.1.2.11.4: the broker must not send a
larger packet; it drops the message) and Keep Alive (3.1.2.10: a client silent for 1.5 x keep
alive is disconnected, and as that is not a normal DISCONNECT, its will is published). The
broker's clock is the test's (mqtt_common.advance)."""
from mqtt_common import Client, advance, run


def main(host, port, prefix, _opts):
    base = prefix + '/limits'
    small = Client(host, port, prefix + '-small', connect_props={'MaximumPacketSize': 512})
    small.connect()
    small.subscribe(base + '/size', 1)
    pub = Client(host, port, prefix + '-pub')
    pub.connect()
    pub.wait_published([
        pub.publish(base + '/size', 'x' * 2000, 1),
        pub.publish(base + '/size', 'fits', 1),
    ])
    got = small.wait_messages(1)
    pub.wait_published([pub.publish(base + '/size', 'end', 1)])
    small.wait(lambda: small.messages[-1].payload == b'end', "the 'end' marker")
    sizes = [len(m.payload) for m in small.messages]

    watcher = Client(host, port, prefix + '-watcher')
    watcher.connect()
    watcher.subscribe(base + '/will', 1)
    silent = Client(host, port, prefix + '-silent',
                    will=dict(topic=base + '/will', payload='timed out', qos=1, retain=False))
    silent.c.connect(host, port, keepalive=1)
    silent.c.loop_start()
    silent.wait(lambda: silent.connacks, 'CONNACK')
    silent.c.loop_stop()  # the socket stays open, but nothing more is sent: no PINGREQ
    # The broker looks every second: at 1 s the client is within 1.5 x keep alive, at 2 s not.
    advance(1000)
    watcher.wait_published([watcher.publish(base + '/will', 'marker', 1)])
    watcher.wait_messages(1)
    advance(1000)
    will = watcher.wait_messages(2, timeout=8)
    out = {
        'sizes': sizes,
        'first': got[0].payload.decode(),
        'will': [m.payload.decode() for m in will],
    }
    sock = silent.c.socket()
    if sock is not None:
        sock.close()
    for c in (small, pub, watcher):
        c.disconnect()
    return out


run(main)
