"""MQTT 5 topic aliases from the client: a publish with topic + alias sets the alias, one with an
empty topic + alias uses it, topic + the same alias remaps it. Then the errors: an alias above
the broker's Topic Alias Maximum (DISCONNECT 0x94), an empty topic with an alias never set
(DISCONNECT 0x82)."""
from mqtt_common import Client, PacketTypes, props, run


def alias(n):
    return props(PacketTypes.PUBLISH, TopicAlias=n)


def main(host, port, prefix, _opts):
    base = prefix + '/alias'
    sub = Client(host, port, prefix + '-sub')
    sub.connect()
    sub.subscribe(base + '/#', 1)
    pub = Client(host, port, prefix + '-pub')
    pub.connect()
    maximum = (pub.connack_props or {}).get('TopicAliasMaximum', 0)
    mids = [
        pub.publish(base + '/a', 'one', 1, properties=alias(1)),
        pub.publish('', 'two', 1, properties=alias(1)),
        pub.publish(base + '/b', 'three', 1, properties=alias(1)),
        pub.publish('', 'four', 1, properties=alias(1)),
        pub.publish(base + '/c', 'five', 0, properties=alias(2)),
        pub.publish('', 'six', 1, properties=alias(2)),
    ]
    pub.wait_published([m for i, m in enumerate(mids) if i != 4])
    got = sub.wait_messages(6)
    pub.disconnect()

    errors = {}
    for name, topic, n in (('above_maximum', base + '/x', maximum + 1), ('unknown', '', 7)):
        bad = Client(host, port, '%s-%s' % (prefix, name))
        bad.connect()
        bad.publish(topic, 'bad', 1, properties=alias(n))
        bad.wait(lambda: bad.disconnects, 'the broker to disconnect')
        errors[name] = bad.disconnects[0]
        bad.c.loop_stop()
    sub.disconnect()
    return {
        'maximum': maximum,
        'received': [[m.topic, m.payload.decode()] for m in got],
        'errors': errors,
    }


run(main)
