"""pika and grpcio over TLS, for test/tls-*.test.ts. Run by /usr/bin/python3:

  tls_clients.py pika HOST PORT CA_FILE QUEUE [CERT KEY]
      connects with SSL (CA_FILE verifies the broker; CERT/KEY is the client certificate, which
      also switches to SASL EXTERNAL), publishes "from pika" to QUEUE and gets it back.
  tls_clients.py grpc HOST:PORT CA_FILE QUEUE [CERT KEY]
      grpcio with ssl_channel_credentials: a health check, then Broker/DeclareQueue(QUEUE) with
      raw protobuf bytes and no authorization metadata (the certificate, if any, names the user).

Prints one JSON object with what it observed; exits non-zero with a trace on failure.
"""
import json
import ssl
import sys
import traceback


def pika_run(host, port, ca, queue, cert=None, key=None):
    import pika
    ctx = ssl.create_default_context(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    creds = pika.credentials.ExternalCredentials() if cert is not None else pika.PlainCredentials('guest', 'guest')
    params = pika.ConnectionParameters(
        host=host, port=int(port), credentials=creds, ssl_options=pika.SSLOptions(ctx, 'localhost'),
        connection_attempts=1, socket_timeout=5)
    try:
        conn = pika.BlockingConnection(params)
    except Exception as e:  # the refusal is the observation
        return {'connected': False, 'error': type(e).__name__}
    ch = conn.channel()
    ch.queue_declare(queue=queue, auto_delete=True)
    ch.basic_publish(exchange='', routing_key=queue, body=b'from pika')
    body = None
    for _ in range(50):
        method, _props, b = ch.basic_get(queue=queue, auto_ack=True)
        if method is not None:
            body = b.decode()
            break
        conn.sleep(0.05)
    conn.close()
    return {'connected': True, 'body': body}


def grpc_run(addr, ca, queue, cert=None, key=None):
    import grpc
    with open(ca, 'rb') as f:
        root = f.read()
    chain = pkey = None
    if cert is not None:
        with open(cert, 'rb') as f:
            chain = f.read()
        with open(key, 'rb') as f:
            pkey = f.read()
    creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=pkey, certificate_chain=chain)
    out = {}
    # The server certificate names 127.0.0.1 and localhost; checking against localhost works with
    # every grpcio version (older ones do not match IP subjectAltNames).
    with grpc.secure_channel(addr, creds, options=[('grpc.ssl_target_name_override', 'localhost')]) as channel:
        check = channel.unary_unary('/grpc.health.v1.Health/Check')
        # HealthCheckResponse: field 1 (status) varint; 1 = SERVING.
        out['health'] = list(check(b'', timeout=10))
        declare = channel.unary_unary('/switchyard.v1.Broker/DeclareQueue')
        name = queue.encode()
        try:
            resp = declare(b'\x0a' + bytes([len(name)]) + name, timeout=10)
            out['declare'] = 'OK' if name in resp else 'unexpected response'
        except grpc.RpcError as e:
            out['declare'] = e.code().name
    return out


def main():
    try:
        kind = sys.argv[1]
        if kind == 'pika':
            host, port, ca, queue = sys.argv[2:6]
            rest = sys.argv[6:8]
            r = pika_run(host, port, ca, queue, *rest)
        elif kind == 'grpc':
            addr, ca, queue = sys.argv[2:5]
            rest = sys.argv[5:7]
            r = grpc_run(addr, ca, queue, *rest)
        else:
            sys.exit('usage: tls_clients.py pika|grpc ...')
        print(json.dumps(r))
    except Exception:
        traceback.print_exc()
        sys.exit(1)


main()
