"""MQTT 5 session expiry: a session whose Session Expiry Interval (1 s) has passed is gone on
reconnect (no session present, what was queued for it dropped); one whose DISCONNECT set the
interval to 0 ends at once. The broker's clock is the test's (mqtt_common.advance)."""
from mqtt_common import Client, PacketTypes, advance, payloads, props, run


def main(host, port, prefix, _opts):
    topic = prefix + '/expiry'
    pub = Client(host, port, prefix + '-pub')
    pub.connect()
    out = {}
    for case in ('after_interval', 'disconnect_zero'):
        cid = '%s-%s' % (prefix, case)
        s = Client(host, port, cid, session_expiry=1 if case == 'after_interval' else 60)
        s.connect()
        s.subscribe(topic + '/' + case, 1)
        if case == 'disconnect_zero':
            s.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
        else:
            s.disconnect()
        pub.wait_published([pub.publish(topic + '/' + case, 'queued', 1)])
        if case == 'after_interval':
            advance(1000, [cid])  # exactly the interval
        back = Client(host, port, cid, clean=False, session_expiry=60)
        connack = back.connect()
        back.subscribe(topic + '/' + case, 1)
        back.wait_published([back.publish(topic + '/' + case, 'marker', 1)])
        first = payloads(back.wait_messages(1))
        back.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
        out[case] = {'connack': list(connack), 'first': first}
    pub.disconnect()
    return out


run(main)
