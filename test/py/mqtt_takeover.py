"""Session takeover (MQTT 5 section 3.1.4, 3.1.1 section 3.1.4): a second connection with the
same client id takes the session over; the first is closed (v5: DISCONNECT 0x8E first) and does
not reconnect. The subscription goes with the session. Option: version=3|5."""
from mqtt_common import Client, payloads, run


def main(host, port, prefix, opts):
    version = int(opts.get('version', '5'))
    cid = prefix + '-id'
    topic = prefix + '/takeover'
    first = Client(host, port, cid, version, clean=version == 5, session_expiry=60 if version == 5 else None,
                   reconnect=False)
    if version != 5:
        first = Client(host, port, cid, version, clean=False, reconnect=False)
    first.connect()
    first.subscribe(topic, 1)
    second = Client(host, port, cid, version, clean=False, session_expiry=60 if version == 5 else None)
    connack = second.connect()
    first.wait(lambda: first.disconnects, 'the first connection to be closed')
    pub = Client(host, port, prefix + '-pub', version)
    pub.connect()
    pub.wait_published([pub.publish(topic, 'after takeover', 1)])
    got = payloads(second.wait_messages(1))
    out = {
        'second_connack': list(connack),
        # 3.1.1 has no server DISCONNECT: only the closed socket, whose code differs by paho version.
        'first_closed_with': first.disconnects[0] if version == 5 else 'closed',
        'second_got': got,
        'first_got': payloads(first.messages),
    }
    pub.disconnect()
    second.disconnect()
    first.c.loop_stop()
    return out


run(main)
