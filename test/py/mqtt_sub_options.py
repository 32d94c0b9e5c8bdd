"""MQTT 5 subscription options and identifiers (3.8.3.1, 3.8.2.1.2): No Local, Retain As
Published, Retain Handling 2 (never) and 1 (only for a new subscription), and the Subscription
Identifier on matching deliveries. Publisher b's 'end' marker comes last: what precedes it in
a's session queue has arrived."""
from paho.mqtt.subscribeoptions import SubscribeOptions

from mqtt_common import Client, PacketTypes, props, run


def main(host, port, prefix, _opts):
    base = prefix + '/opts'
    a = Client(host, port, prefix + '-a')
    b = Client(host, port, prefix + '-b')
    c = Client(host, port, prefix + '-c')
    for x in (a, b, c):
        x.connect()
    b.wait_published([b.publish(base + '/ret', 'kept', 1, retain=True)])

    granted = [
        a.subscribe(base + '/nl', options=SubscribeOptions(qos=1, noLocal=True)),
        a.subscribe(base + '/rap', options=SubscribeOptions(qos=1, retainAsPublished=True)),
        a.subscribe(base + '/norap', options=SubscribeOptions(qos=1)),
        a.subscribe(base + '/ret', options=SubscribeOptions(qos=1, retainHandling=2)),
        a.subscribe(base + '/ret', options=SubscribeOptions(qos=1, retainHandling=1)),
        a.subscribe(base + '/id/#', 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7)),
    ]
    c.subscribe(base + '/ret', options=SubscribeOptions(qos=1, retainHandling=1))

    a.wait_published([a.publish(base + '/nl', 'own', 1)])
    mids = [
        b.publish(base + '/nl', 'other', 1),
        b.publish(base + '/rap', 'rap', 1, retain=True),
        b.publish(base + '/norap', 'norap', 1, retain=True),
        b.publish(base + '/id/x', 'with id', 1),
        b.publish(base + '/nl', 'end', 1),
    ]
    b.wait_published(mids)
    a.wait(lambda: a.messages and a.messages[-1].payload == b'end', "the 'end' marker")
    kept = c.wait_messages(1)
    out = {
        'granted': granted,
        'a': [[m.topic[len(base) + 1:], m.payload.decode(), int(m.retain),
               getattr(m.properties, 'SubscriptionIdentifier', None)] for m in a.messages],
        'c': [[m.payload.decode(), int(m.retain)] for m in kept],
    }
    for t in ('/ret', '/rap', '/norap'):
        b.publish(base + t, b'', 1, retain=True)
    for x in (a, b, c):
        x.disconnect()
    return out


run(main)
