import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import fc from 'fast-check';
import { PublishRequestSchema, SessionRequestSchema } from '../../gen/switchyard/v1/broker_pb.js';
import { lenField, sessionPublishFrame, unaryPublishFrame } from './grpc-wire.js';
import { scheduledTimeOf, timedBody } from './scenarios.js';

const key = fc.stringMatching(/^[a-z0-9.]{1,40}$/);

test('hand-encoded publishes decode with the generated schemas', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 40 }),
      key,
      fc.uint8Array({ maxLength: 3000 }),
      (id, k, body) => {
        const session = sessionPublishFrame(id, 'amq.topic', k, Buffer.from(body));
        assert.equal(session.readUInt32BE(1), session.length - 5);
        const req = fromBinary(SessionRequestSchema, session.subarray(5));
        assert.equal(req.request.case, 'publish');
        if (req.request.case !== 'publish') return;
        assert.equal(req.request.value.publishId, BigInt(id));
        assert.equal(req.request.value.routingKey, k);
        assert.ok(Buffer.from(req.request.value.message?.body ?? []).equals(Buffer.from(body)));
        const unary = fromBinary(
          PublishRequestSchema,
          unaryPublishFrame('amq.topic', k, Buffer.from(body)).subarray(5),
        );
        assert.equal(unary.exchange, 'amq.topic');
        assert.ok(Buffer.from(unary.message?.body ?? []).equals(Buffer.from(body)));
      },
    ),
    { numRuns: 200 },
  );
});

test('lenField finds a field after others of every wire type, and never reads past the end', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const buf = Buffer.from(bytes);
      const r = lenField(buf, 0, buf.length, 1);
      if (r !== null) assert.ok(r[0] <= r[1]);
    }),
  );
  // varint field 1, fixed64 field 2, fixed32 field 3, then bytes field 4 = "hi"
  const buf = Buffer.from([
    0x08, 0x96, 0x01, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x1d, 0, 0, 0, 0, 0x22, 2, 0x68, 0x69,
  ]);
  const at = lenField(buf, 0, buf.length, 4)!;
  assert.equal(buf.subarray(at[0], at[1]).toString(), 'hi');
});

test('a timed body carries its scheduled time at every size', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 1e9, noNaN: true }),
      fc.integer({ min: 16, max: 70000 }),
      (t, size) => {
        const b = timedBody(t, size);
        assert.equal(b.length, size);
        assert.ok(Math.abs(scheduledTimeOf(b) - t) <= 0.0005 + 1e-9 * t);
      },
    ),
  );
});
