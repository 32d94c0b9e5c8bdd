"""MQTT 5 wills with a delay (3.1.3.2.2), each dropped without DISCONNECT:
delayed: Will Delay 2 s, session expiry 60 s: the will comes about 2 s after the drop.
cancelled: Will Delay 5 s (room for a busy machine to reconnect in time), and the client is back
  (clean_start=False) within it: no will; a marker published after the delay has passed is the
  first thing on that topic.
expiry_first: Will Delay 30 s but session expiry 1 s: the will comes when the session ends."""
import time

from mqtt_common import Client, PacketTypes, now, props, run

CANCEL_DELAY = 5


def will(topic, payload, delay):
    return dict(topic=topic, payload=payload, qos=1, retain=False,
                properties=props(PacketTypes.WILLMESSAGE, WillDelayInterval=delay))


def main(host, port, prefix, _opts):
    base = prefix + '/will'
    watcher = Client(host, port, prefix + '-watcher')
    watcher.connect()
    watcher.subscribe(base + '/#', 1)
    arrived = {}

    def first(topic):
        watcher.wait(lambda: any(m.topic == topic for m in watcher.messages), 'a message on ' + topic)
        if topic not in arrived:
            arrived[topic] = now()
        return next(m.payload.decode() for m in watcher.messages if m.topic == topic)

    # cancelled: dropped, then back within the delay.
    c1 = Client(host, port, prefix + '-c', session_expiry=60,
                will=will(base + '/cancelled', 'cancelled', CANCEL_DELAY))
    c1.connect()
    c1.drop()
    cancel_dropped = now()
    c2 = Client(host, port, prefix + '-c', clean=False, session_expiry=60)
    back = c2.connect()
    back_after = now() - cancel_dropped

    # delayed and expiry_first, dropped together.
    d = Client(host, port, prefix + '-d', session_expiry=60, will=will(base + '/delayed', 'delayed', 2))
    e = Client(host, port, prefix + '-e', session_expiry=1, will=will(base + '/expiry', 'session ended', 30))
    d.connect()
    e.connect()
    # Timed from before the drops: the broker's delays start later, so these are never short.
    dropped = now()
    d.drop()
    e.drop()
    expiry_payload = first(base + '/expiry')
    expiry_after = arrived[base + '/expiry'] - dropped
    delayed_payload = first(base + '/delayed')
    delayed_after = arrived[base + '/delayed'] - dropped

    # Past the cancelled will's delay (the only wait with nothing to wait for): a marker goes first.
    left = CANCEL_DELAY + 0.5 - (now() - cancel_dropped)
    if left > 0:
        time.sleep(left)
    watcher.publish(base + '/cancelled', 'marker', 1)
    cancelled_first = first(base + '/cancelled')
    c2.disconnect()
    watcher.disconnect()
    return {
        'delayed': {'payload': delayed_payload, 'after_s': round(delayed_after, 2)},
        'expiry_first': {'payload': expiry_payload, 'after_s': round(expiry_after, 2)},
        'cancelled': {'session_present': back[1], 'first': cancelled_first,
                      'back_in_time': back_after < CANCEL_DELAY},
    }


run(main)
