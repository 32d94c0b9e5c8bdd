"""MQTT 5 request/response: the requester sends Response Topic + Correlation Data (text and
binary); a responder answers on the Response Topic with the same Correlation Data. Also
Request Response Information on CONNECT and the Response Information the broker returns."""
from mqtt_common import Client, PacketTypes, props, run


def main(host, port, prefix, _opts):
    req_topic = prefix + '/rpc/requests'
    resp_topic = prefix + '/rpc/responses'
    server = Client(host, port, prefix + '-server')
    server.connect()
    server.subscribe(req_topic, 1)
    client = Client(host, port, prefix + '-client', connect_props={'RequestResponseInformation': 1})
    client.connect()
    client.subscribe(resp_topic, 1)
    correlations = [b'c-1', b'\x00\xff\xfe binary', b'c-3']
    for i, cd in enumerate(correlations):
        client.publish(req_topic, 'q%d' % i, 1,
                       properties=props(PacketTypes.PUBLISH, ResponseTopic=resp_topic, CorrelationData=cd))
    requests = server.wait_messages(3)
    seen = []
    for m in requests:
        p = m.properties
        seen.append([m.payload.decode(), p.ResponseTopic, p.CorrelationData.hex()])
        server.publish(p.ResponseTopic, m.payload.decode().upper(), 1,
                       properties=props(PacketTypes.PUBLISH, CorrelationData=p.CorrelationData))
    replies = client.wait_messages(3)
    out = {
        'response_information': (client.connack_props or {}).get('ResponseInformation'),
        'requests': seen,
        'replies': [[m.topic, m.payload.decode(), m.properties.CorrelationData.hex()] for m in replies],
    }
    client.disconnect()
    server.disconnect()
    return out


run(main)
