"""grpcio (Python) against the switchyard.v1.Broker service, all four call patterns.

Run by /usr/bin/python3 from test/grpc-interop.test.ts: python3 grpc_broker.py HOST:PORT
DESCRIPTOR_SET NAME_PREFIX. No generated stubs: the message classes come from a
FileDescriptorSet (made by `buf build --as-file-descriptor-set`), and the calls are made with
channel.unary_unary / unary_stream / stream_unary / stream_stream and explicit serializers, as a
client of an unknown service would. Prints one JSON object with what it observed; exits non-zero
with a trace on failure. Uses only APIs present in grpcio 1.51 and protobuf 4.21.
"""
import base64
import json
import queue
import sys
import traceback

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

TIMEOUT = 10


def message_classes(path):
    """name -> message class, for every message in the descriptor set."""
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, 'rb') as f:
        fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = None if hasattr(message_factory, 'GetMessageClass') else message_factory.MessageFactory(pool)

    def cls(name):
        d = pool.FindMessageTypeByName(name)
        return message_factory.GetMessageClass(d) if factory is None else factory.GetPrototype(d)
    return cls


def main(addr, descriptors, prefix):
    M = message_classes(descriptors)
    P = 'switchyard.v1.'
    auth = [('authorization', 'Basic ' + base64.b64encode(b'guest:guest').decode())]
    ch = grpc.insecure_channel(addr)

    def method(kind, name, req, resp):
        return getattr(ch, kind)('/switchyard.v1.Broker/' + name,
                                 request_serializer=M(P + req).SerializeToString,
                                 response_deserializer=M(P + resp).FromString)

    declare_queue = method('unary_unary', 'DeclareQueue', 'DeclareQueueRequest', 'DeclareQueueResponse')
    publish = method('unary_unary', 'Publish', 'PublishRequest', 'PublishResponse')
    publish_stream = method('stream_unary', 'PublishStream', 'PublishRequest', 'PublishStreamResponse')
    subscribe = method('unary_stream', 'Subscribe', 'SubscribeRequest', 'SubscribeResponse')
    ack = method('unary_unary', 'Ack', 'AckRequest', 'AckResponse')
    session = method('stream_stream', 'Session', 'SessionRequest', 'SessionResponse')
    inspect = method('unary_unary', 'InspectQueue', 'InspectQueueRequest', 'InspectQueueResponse')
    out = {}

    # Unary: declare, publish with properties; a missing exchange is NOT_FOUND.
    q = prefix + '-unary'
    out['declared'] = declare_queue(M(P + 'DeclareQueueRequest')(name=q), metadata=auth, timeout=TIMEOUT).name
    msg = M(P + 'Message')(body=b'from python', content_type='text/plain', correlation_id='py-1',
                           headers={'lang': 'python'}, persistent=True)
    out['routed'] = publish(M(P + 'PublishRequest')(routing_key=q, message=msg), metadata=auth,
                            timeout=TIMEOUT).routed_queues
    try:
        publish(M(P + 'PublishRequest')(exchange=prefix + '-missing', routing_key=q), metadata=auth, timeout=TIMEOUT)
        out['missing'] = 'OK'
    except grpc.RpcError as e:
        out['missing'] = e.code().name
        out['missing_details'] = e.details()

    # Client streaming: ten publishes, one reply.
    def requests():
        for i in range(10):
            yield M(P + 'PublishRequest')(routing_key=q, message=M(P + 'Message')(body=b'%d' % i))
    out['stream_confirmed'] = publish_stream(requests(), metadata=auth, timeout=TIMEOUT).confirmed

    # Server streaming with manual acks: started, then the eleven messages; ack them all.
    call = subscribe(M(P + 'SubscribeRequest')(queue=q, prefetch=20), metadata=auth, timeout=TIMEOUT)
    started = next(call)
    sub_id = started.started.subscription_id
    deliveries = [next(call).delivery for _ in range(11)]
    out['subscribe_bodies'] = [d.message.body.decode() for d in deliveries]
    out['subscribe_props'] = {
        'content_type': deliveries[0].message.content_type,
        'correlation_id': deliveries[0].message.correlation_id,
        'headers': dict(deliveries[0].message.headers),
        'persistent': deliveries[0].message.persistent,
        'routing_key': deliveries[0].message.routing_key,
    }
    ack(M(P + 'AckRequest')(subscription_id=sub_id, delivery_id=deliveries[-1].delivery_id, multiple=True),
        metadata=auth, timeout=TIMEOUT)
    call.cancel()
    out['left_after_ack'] = inspect(M(P + 'InspectQueueRequest')(name=q), metadata=auth,
                                    timeout=TIMEOUT).message_count

    # Bidirectional: subscribe with credit, publish, get confirms and deliveries, ack.
    q2 = prefix + '-session'
    declare_queue(M(P + 'DeclareQueueRequest')(name=q2), metadata=auth, timeout=TIMEOUT)
    SR = M(P + 'SessionRequest')
    inbox = queue.Queue()

    def session_requests():
        while True:
            r = inbox.get()
            if r is None:
                return
            yield r
    inbox.put(SR(subscribe=M(P + 'SessionRequest.Subscribe')(subscription='s', queue=q2, credit=3)))
    responses = session(session_requests(), metadata=auth, timeout=TIMEOUT)
    first = next(responses)
    out['session_first'] = first.WhichOneof('response')
    for i in range(5):
        inbox.put(SR(publish=M(P + 'SessionRequest.Publish')(publish_id=100 + i, routing_key=q2, message=M(P + 'Message')(body=b'p%d' % i))))
    confirms, bodies, last = [], [], None
    while len(confirms) < 5 or len(bodies) < 3:
        r = next(responses)
        kind = r.WhichOneof('response')
        if kind == 'confirm':
            confirms.append(r.confirm.publish_id)
        elif kind == 'delivery':
            bodies.append(r.delivery.message.body.decode())
            last = r.delivery.delivery_id
    inbox.put(SR(ack=M(P + 'SessionRequest.Ack')(subscription='s', delivery_id=last, multiple=True)))
    inbox.put(SR(credit=M(P + 'SessionRequest.Credit')(subscription='s', n=2)))
    while len(bodies) < 5:
        r = next(responses)
        if r.WhichOneof('response') == 'delivery':
            bodies.append(r.delivery.message.body.decode())
            last = r.delivery.delivery_id
    inbox.put(SR(ack=M(P + 'SessionRequest.Ack')(subscription='s', delivery_id=last, multiple=True)))
    inbox.put(None)
    rest = [r.WhichOneof('response') for r in responses]
    out['session_confirms'] = sorted(confirms)
    out['session_bodies'] = bodies
    out['session_rest'] = rest
    ch.close()
    return out


if __name__ == '__main__':
    if len(sys.argv) < 4:
        sys.exit('usage: %s HOST:PORT DESCRIPTOR_SET NAME_PREFIX' % sys.argv[0])
    try:
        print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3])))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
