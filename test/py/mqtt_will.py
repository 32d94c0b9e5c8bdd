"""MQTT 5 wills with a delay (3.1.3.2.2), each dropped without DISCONNECT, on a broker clock the
test moves (mqtt_common.advance):
delayed: Will Delay 2 s, session expiry 60 s: the will comes when 2 s have passed, not before.
cancelled: the same, but the client is back (clean_start=False) within the delay: no will; a
  marker published after the delay has passed is the first thing on that topic.
expiry_first: Will Delay 30 s but session expiry 1 s: the will comes when the session ends."""
from mqtt_common import Client, PacketTypes, advance, props, run


def will(topic, payload, delay):
    return dict(topic=topic, payload=payload, qos=1, retain=False,
                properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay))


def main(host, port, prefix, _opts):
    base = prefix + '/will'
    watcher = Client(host, port, prefix + '-watcher')
    watcher.connect()
    watcher.subscribe(base + '/#', 1)
    def first(topic):
        watcher.wait(lambda: any(m.topic == topic for m in watcher.messages), 'a message on ' + topic, 8)
        return next(m.payload.decode() for m in watcher.messages if m.topic == topic)

    def seen(topic):
        return [m.payload.decode() for m in watcher.messages if m.topic == topic]

    # cancelled: dropped, then back within the delay (the clock has not moved).
    c1 = Client(host, port, prefix + '-c', session_expiry=60, will=will(base + '/cancelled', 'cancelled', 2))
    c1.connect()
    c1.drop()
    advance(0, [prefix + '-c'])
    c2 = Client(host, port, prefix + '-c', clean=False, session_expiry=60)
    back = c2.connect()

    # delayed and expiry_first, dropped together.
    d = Client(host, port, prefix + '-d', session_expiry=60, will=will(base + '/delayed', 'delayed', 2))
    e = Client(host, port, prefix + '-e', session_expiry=1, will=will(base + '/expiry', 'session ended', 30))
    d.connect()
    e.connect()
    d.drop()
    e.drop()
    advance(1000, [prefix + '-d', prefix + '-e'])
    expiry_payload = first(base + '/expiry')
    # A marker published now comes before the delayed will: 1 s of its 2 s have passed.
    watcher.publish(base + '/delayed', 'marker', 1)
    first(base + '/delayed')
    advance(1000)
    watcher.wait(lambda: len(seen(base + '/delayed')) >= 2, 'the delayed will', 8)
    delayed = seen(base + '/delayed')

    # Past the cancelled will's delay: a marker goes first.
    advance(1500)
    watcher.publish(base + '/cancelled', 'marker', 1)
    cancelled_first = first(base + '/cancelled')
    c2.disconnect()
    watcher.disconnect()
    return {
        'delayed': delayed,
        'expiry_first': expiry_payload,
        'cancelled': {'session_present': back[1], 'first': cancelled_first},
    }


run(main)
