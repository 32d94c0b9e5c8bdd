/**
 * The gRPC side of the bench, on plain node:http2: the hot messages (publish out, delivery in)
 * are encoded and decoded by hand, so the client costs about what a compiled gRPC stack would;
 * a generic protobuf runtime in the one bench process would be what gets measured instead.
 */
import { once } from 'node:events';
import { type ClientHttp2Session, type ClientHttp2Stream, connect } from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { SessionRequestSchema, SessionResponseSchema } from '../../gen/switchyard/v1/broker_pb.js';

const SESSION_PATH = '/switchyard.v1.Broker/Session';
const PUBLISH_PATH = '/switchyard.v1.Broker/Publish';
/** Delivery credit of a subscription; topped up at half, so the broker never waits on us. */
const CREDIT = 8192;

export function authHeader(url: URL): string {
  const user = url.username === '' ? 'guest' : decodeURIComponent(url.username);
  const pass = url.username === '' ? 'guest' : decodeURIComponent(url.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

export async function openHttp2(url: URL): Promise<ClientHttp2Session> {
  // grpcs:// = HTTP/2 over TLS (ALPN h2), else h2c.
  const session = connect(`${url.protocol === 'grpcs:' ? 'https' : 'http'}://${url.host}`);
  session.on('error', () => {});
  await once(session, 'connect');
  return session;
}

function varint(n: number, parts: number[]): void {
  while (n > 0x7f) {
    parts.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  parts.push(n);
}

function readVarint(buf: Buffer, at: number): [number, number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    // Past the end: a position no caller's loop continues from.
    if (at >= buf.length) return [v, Number.POSITIVE_INFINITY];
    const b = buf[at++]!;
    v += (b & 0x7f) * scale;
    if (b < 0x80) return [v, at];
    scale *= 128;
  }
}

/** A length-delimited field: tag, length, then the bytes. */
function field(no: number, bytes: Uint8Array): Buffer {
  const head: number[] = [];
  varint((no << 3) | 2, head);
  varint(bytes.length, head);
  return Buffer.concat([Buffer.from(head), bytes]);
}

/** The 5-byte gRPC message prefix (uncompressed) and the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/** [start, end) of length-delimited field `no` within buf[start, end), or null. */
export function lenField(buf: Buffer, start: number, end: number, no: number): [number, number] | null {
  let at = start;
  while (at < end) {
    let tag: number;
    [tag, at] = readVarint(buf, at);
    const wire = tag & 7;
    if (wire === 2) {
      let len: number;
      [len, at] = readVarint(buf, at);
      if (at + len > end) return null;
      if (tag >>> 3 === no) return [at, at + len];
      at += len;
    } else if (wire === 0) [, at] = readVarint(buf, at);
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return null;
  }
  return null;
}

/** Calls onMessage for every whole gRPC message of a response stream. */
export function onGrpcMessages(
  stream: ClientHttp2Stream,
  onMessage: (buf: Buffer, start: number, end: number) => void,
): void {
  let pending: Buffer = Buffer.alloc(0);
  stream.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (pending.length - off >= 5) {
      const len = pending.readUInt32BE(off + 1);
      if (pending.length - off - 5 < len) break;
      onMessage(pending, off + 5, off + 5 + len);
      off += 5 + len;
    }
    pending = pending.subarray(off);
  });
}

export function openSessionStream(session: ClientHttp2Session, auth: string): ClientHttp2Stream {
  const stream = session.request({
    ':method': 'POST',
    ':path': SESSION_PATH,
    'content-type': 'application/grpc+proto',
    te: 'trailers',
    authorization: auth,
  });
  stream.on('error', () => {});
  return stream;
}

/** A Session that subscribes to amq.topic with `key`, auto-ack; resolves once subscribed. */
export async function subscribeSession(
  session: ClientHttp2Session,
  auth: string,
  key: string,
  onBody: (body: Buffer) => void,
): Promise<ClientHttp2Stream> {
  const stream = openSessionStream(session, auth);
  let used = 0;
  const ready = new Promise<void>((resolve, reject) => {
    onGrpcMessages(stream, (buf, start, end) => {
      const delivery = lenField(buf, start, end, 4);
      if (delivery !== null) {
        const message = lenField(buf, delivery[0], delivery[1], 5);
        const body = message && lenField(buf, message[0], message[1], 1);
        onBody(body ? buf.subarray(body[0], body[1]) : Buffer.alloc(0));
        if (++used >= CREDIT / 2) {
          stream.write(
            grpcFrame(
              toBinary(
                SessionRequestSchema,
                create(SessionRequestSchema, {
                  request: { case: 'credit', value: { subscription: 's', n: used } },
                }),
              ),
            ),
          );
          used = 0;
        }
        return;
      }
      const r = fromBinary(SessionResponseSchema, buf.subarray(start, end)).response;
      if (r.case === 'subscribed') resolve();
      else if (r.case === 'error') reject(new Error(`gRPC Session: ${r.value.reason}: ${r.value.message}`));
    });
    stream.on('close', () => reject(new Error('gRPC Session closed before subscribing')));
  });
  stream.write(
    grpcFrame(
      toBinary(
        SessionRequestSchema,
        create(SessionRequestSchema, {
          request: {
            case: 'subscribe',
            value: {
              subscription: 's',
              source: { case: 'exchange', value: 'amq.topic' },
              bindingKey: key,
              autoAck: true,
              credit: CREDIT,
            },
          },
        }),
      ),
    ),
  );
  await ready;
  return stream;
}

/** SessionRequest{publish{publish_id, exchange, routing_key, message{body}}}, framed. */
export function sessionPublishFrame(publishId: number, exchange: string, key: string, body: Buffer): Buffer {
  const id: number[] = [0x08];
  varint(publishId, id);
  const publish = Buffer.concat([
    Buffer.from(id),
    field(2, Buffer.from(exchange)),
    field(3, Buffer.from(key)),
    field(4, field(1, body)),
  ]);
  return grpcFrame(field(1, publish));
}

/** PublishRequest{exchange, routing_key, message{body}}, framed: the unary Publish. */
export function unaryPublishFrame(exchange: string, key: string, body: Buffer): Buffer {
  return grpcFrame(
    Buffer.concat([field(1, Buffer.from(exchange)), field(2, Buffer.from(key)), field(3, field(1, body))]),
  );
}

/** One unary call: resolves on grpc-status 0, rejects otherwise. */
export function unaryCall(
  session: ClientHttp2Session,
  path: string,
  auth: string | null,
  frame: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    };
    if (auth !== null) headers.authorization = auth;
    const stream = session.request(headers);
    let status: string | undefined;
    let message = '';
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
    });
    stream.on('trailers', (t) => {
      status = String(t['grpc-status']);
      message = String(t['grpc-message'] ?? '');
    });
    stream.on('data', () => {});
    stream.on('error', reject);
    stream.on('close', () => {
      if (status === '0') resolve();
      else reject(new Error(`grpc-status ${status}: ${message}`));
    });
    stream.end(frame);
  });
}

export const PUBLISH_METHOD = PUBLISH_PATH;
