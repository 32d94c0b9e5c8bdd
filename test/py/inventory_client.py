"""grpcio (Python) calling the example's inventory.v1.Inventory service directly.

Run by /usr/bin/python3 from test/example-orders.test.ts: python3 inventory_client.py HOST:PORT.
No stubs and no descriptors: the messages are encoded and decoded by hand (protobuf wire format:
a string is tag (field << 3 | 2), length, bytes; an int32 is tag (field << 3 | 0), varint), and
the calls are made with channel.unary_unary and explicit serializers. Prints one JSON object with
what it observed; exits non-zero with a trace on failure. grpcio 1.51 APIs only.
"""
import json
import sys
import traceback

import grpc

TIMEOUT = 10
SERVICE = '/inventory.v1.Inventory/'


def varint(n):
    if n < 0:
        n += 1 << 64  # int32 negatives are sign-extended to ten bytes
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(fields):
    """fields: list of (number, value); str -> length-delimited, int -> varint; zero values skipped."""
    out = bytearray()
    for number, value in fields:
        if isinstance(value, str):
            if value == '':
                continue
            data = value.encode('utf-8')
            out += varint(number << 3 | 2) + varint(len(data)) + data
        else:
            if value == 0:
                continue
            out += varint(number << 3 | 0) + varint(value)
    return bytes(out)


def decode(data):
    """field number -> value (str for length-delimited, signed int32 for varint)."""
    out, i = {}, 0

    def read_varint():
        nonlocal i
        shift = result = 0
        while True:
            b = data[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result
    while i < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            v = read_varint() & 0xFFFFFFFF
            out[number] = v - (1 << 32) if v & 0x80000000 else v
        elif wire == 2:
            n = read_varint()
            out[number] = data[i:i + n].decode('utf-8')
            i += n
        else:
            raise ValueError('unexpected wire type %d' % wire)
    return out


def main(addr):
    ch = grpc.insecure_channel(addr)

    def call(name, fields):
        m = ch.unary_unary(SERVICE + name, request_serializer=encode, response_deserializer=decode)
        try:
            return {'ok': m(fields, timeout=TIMEOUT)}
        except grpc.RpcError as e:
            return {'code': e.code().name, 'details': e.details()}

    out = {}
    # OrderItem: sku = 1, quantity = 2, idempotency_key = 3. UpdateResponse: sku = 1, remaining = 2.
    # GetStockRequest: sku = 1. StockLevel: sku = 1, quantity = 2.
    out['before'] = call('GetStock', [(1, 'widget')])
    out['update'] = call('UpdateStock', [(1, 'widget'), (2, 3), (3, 'py-order-1')])
    out['update_again'] = call('UpdateStock', [(1, 'widget'), (2, 3), (3, 'py-order-1')])
    out['after'] = call('GetStock', [(1, 'widget')])
    out['too_many'] = call('UpdateStock', [(1, 'widget'), (2, 1000)])
    out['negative'] = call('UpdateStock', [(1, 'widget'), (2, -1)])
    out['unknown'] = call('GetStock', [(1, 'no-such-sku')])
    ch.close()
    print(json.dumps(out))


if __name__ == '__main__':
    try:
        main(sys.argv[1])
    except Exception:
        traceback.print_exc()
        sys.exit(1)
