// The gRPC `Session` client of bench/protocols.mjs: plain node:http2, the broker's generated
// schemas for the rare requests, and hand-written protobuf for the hot ones (publish out, delivery
// and confirm in), so the client costs about what a compiled gRPC stack would: connect-node's or
// protobuf-es's per-message cost, in this one-core bench process, would be what is measured.
// One Session publishes (a confirm per publish, as the API always answers), another subscribes to
// amq.topic with a binding key, auto-ack, and keeps its credit topped up.
import { once } from 'node:events';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ROOT } from './lib-common.mjs';

const pb = await import(pathToFileURL(join(ROOT, 'dist/gen/switchyard/v1/broker_pb.js')).href);

const CREDIT = 8192;
const PATH = '/switchyard.v1.Broker/Session';
const AUTH = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

function frame(schema, init) {
  const bytes = toBinary(schema, create(schema, init));
  const out = Buffer.allocUnsafe(5 + bytes.length);
  out[0] = 0;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

function varint(n, out, at) {
  let v = BigInt(n);
  while (v > 0x7fn) {
    out[at++] = Number(v & 0x7fn) | 0x80;
    v >>= 7n;
  }
  out[at++] = Number(v);
  return at;
}

function readVarint(buf, at) {
  let v = 0;
  let shift = 1;
  for (;;) {
    const b = buf[at++];
    v += (b & 0x7f) * shift;
    if (b < 0x80) return [v, at];
    shift *= 128;
  }
}

/** [start, end) of length-delimited field `no` within buf[start, end), or null. */
function lenField(buf, start, end, no) {
  let at = start;
  while (at < end) {
    let tag;
    [tag, at] = readVarint(buf, at);
    const wire = tag & 7;
    if (wire === 2) {
      let len;
      [len, at] = readVarint(buf, at);
      if (tag >>> 3 === no) return [at, at + len];
      at += len;
    } else if (wire === 0) [, at] = readVarint(buf, at);
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return null;
  }
  return null;
}

/** SessionRequest{publish{publish_id, exchange, routing_key, message{body}}} as a gRPC frame. */
function publishFrame(head, publishId, body) {
  const id = Buffer.allocUnsafe(11);
  const idEnd = varint(publishId, id, 0);
  const bodyLen = Buffer.allocUnsafe(5);
  const bodyLenEnd = varint(body.length, bodyLen, 0);
  const message = 1 + bodyLenEnd + body.length; // 0x0a len body
  const msgLen = Buffer.allocUnsafe(5);
  const msgLenEnd = varint(message, msgLen, 0);
  const publish = 1 + idEnd + head.length + 1 + msgLenEnd + message;
  const pubLen = Buffer.allocUnsafe(5);
  const pubLenEnd = varint(publish, pubLen, 0);
  const total = 1 + pubLenEnd + publish;
  const out = Buffer.allocUnsafe(5 + total);
  out[0] = 0;
  out.writeUInt32BE(total, 1);
  let at = 5;
  out[at++] = 0x0a; // SessionRequest.publish
  at += pubLen.copy(out, at, 0, pubLenEnd);
  out[at++] = 0x08; // publish_id
  at += id.copy(out, at, 0, idEnd);
  at += head.copy(out, at);
  out[at++] = 0x22; // message
  at += msgLen.copy(out, at, 0, msgLenEnd);
  out[at++] = 0x0a; // body
  at += bodyLen.copy(out, at, 0, bodyLenEnd);
  out.set(body, at);
  return out;
}

/** exchange (2) and routing_key (3) of a publish, encoded once. */
function publishHead(exchange, routingKey) {
  const parts = [];
  for (const [tag, s] of [
    [0x12, exchange],
    [0x1a, routingKey],
  ]) {
    const b = Buffer.from(s);
    const len = Buffer.allocUnsafe(5);
    parts.push(Buffer.from([tag]), len.subarray(0, varint(b.length, len, 0)), b);
  }
  return Buffer.concat(parts);
}

/** Splits the gRPC length-prefixed stream into SessionResponse messages: (bytes, start, end). */
function responses(stream, onResponse) {
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (pending.length - off >= 5) {
      const len = pending.readUInt32BE(off + 1);
      if (pending.length - off - 5 < len) break;
      onResponse(pending, off + 5, off + 5 + len);
      off += 5 + len;
    }
    pending = pending.subarray(off);
  });
}

function openSession(client) {
  const stream = client.request({
    ':method': 'POST',
    ':path': PATH,
    'content-type': 'application/grpc+proto',
    te: 'trailers',
    authorization: AUTH,
  });
  stream.on('error', () => {});
  return stream;
}

export async function openGrpcSession(ep, key, onBody) {
  const client = connect(`http://${ep.host}:${ep.grpc}`);
  client.on('error', () => {});
  await once(client, 'connect');

  const sub = openSession(client);
  let granted = CREDIT;
  let used = 0;
  let subscribed;
  const ready = new Promise((resolve, reject) => (subscribed = { resolve, reject }));
  responses(sub, (buf, start, end) => {
    const delivery = lenField(buf, start, end, 4);
    if (delivery !== null) {
      const message = lenField(buf, delivery[0], delivery[1], 5);
      const body = message && lenField(buf, message[0], message[1], 1);
      onBody(body ? buf.subarray(body[0], body[1]) : Buffer.alloc(0));
      if (++used >= granted / 2) {
        sub.write(
          frame(pb.SessionRequestSchema, {
            request: { case: 'credit', value: { subscription: 's', n: used } },
          }),
        );
        used = 0;
      }
      return;
    }
    const { case: kind, value } = fromBinary(pb.SessionResponseSchema, buf.subarray(start, end)).response;
    if (kind === 'subscribed') subscribed.resolve();
    else if (kind === 'error')
      subscribed.reject(new Error(`gRPC Session: ${value.reason}: ${value.message}`));
  });
  sub.write(
    frame(pb.SessionRequestSchema, {
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
  );
  await ready;
  granted = CREDIT;

  const pub = openSession(client);
  let confirmsOwed = 0;
  let drained = null;
  // Every answer to a publish is a confirm or an error naming it.
  responses(pub, () => {
    confirmsOwed--;
    if (drained !== null && confirmsOwed < 512) {
      const d = drained;
      drained = null;
      d();
    }
  });
  const head = publishHead('amq.topic', key);
  let publishId = 0;
  return {
    send: (buf) => {
      confirmsOwed++;
      const ok = pub.write(publishFrame(head, ++publishId, buf));
      return ok && confirmsOwed < 1024;
    },
    drain: () => {
      if (pub.writableNeedDrain) return once(pub, 'drain');
      if (confirmsOwed < 512) return Promise.resolve();
      return new Promise((resolve) => (drained = resolve));
    },
    close: async () => {
      pub.end();
      sub.end();
      client.close();
    },
  };
}
