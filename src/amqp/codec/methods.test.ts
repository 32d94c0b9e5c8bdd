import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { HeaderTable, HeaderValue } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import { type AmqpMethod, METHOD_SPECS, type MethodKind } from './method-specs.js';
import {
  CONTENT_METHODS,
  decodeMethod,
  encodeMethod,
  isSynchronousRequest,
  methodKindOf,
  writeMethodFrame,
} from './methods.js';
import { OutBuffer } from './out-buffer.js';

const SEED = 0x60040;
const KINDS = Object.keys(METHOD_SPECS) as MethodKind[];

function isCode(code: string): (e: unknown) => boolean {
  return (e) => e instanceof SwitchyardError && e.code === code;
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function frameBytes(channel: number, m: AmqpMethod | Parameters<typeof encodeMethod>[0]): Buffer {
  const out = new OutBuffer();
  writeMethodFrame(out, channel, m);
  return Buffer.concat(out.take());
}

// At most 63 code points of up to 4 UTF-8 bytes: always within a shortstr's 255 bytes.
const shortStrArb = fc.string({ unit: 'binary', maxLength: 63 });
const { table: smallTableArb } = fc.letrec<{ value: HeaderValue; table: HeaderTable }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 10 }),
    fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    fc.boolean(),
    fc.constant(null),
    tie('table'),
  ),
  table: fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 3, noNullPrototype: true }),
}));

function methodArb(kind: MethodKind): fc.Arbitrary<AmqpMethod> {
  const spec = METHOD_SPECS[kind];
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, k] of Object.entries(spec.fields)) {
    switch (k) {
      case 'bit':
        fields[name] = fc.boolean();
        break;
      case 'octet':
        fields[name] = fc.integer({ min: 0, max: 0xff });
        break;
      case 'short':
        fields[name] = fc.integer({ min: 0, max: 0xffff });
        break;
      case 'long':
        fields[name] = fc.integer({ min: 0, max: 0xffffffff });
        break;
      case 'longlong':
        fields[name] = fc.maxSafeNat();
        break;
      case 'shortstr':
        fields[name] = shortStrArb;
        break;
      case 'longstr':
        fields[name] = fc.string({ unit: 'binary', maxLength: 300 });
        break;
      case 'bytes':
        fields[name] = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
        break;
      case 'table':
        fields[name] = smallTableArb;
        break;
      default: // reserved fields are not part of the object
        break;
    }
  }
  return fc
    .record(fields)
    .map((r) => ({ kind, classId: spec.classId, methodId: spec.methodId, ...r }) as unknown as AmqpMethod);
}

test('methods: encode → decode is the identity for every method kind', () => {
  for (const kind of KINDS) {
    fc.assert(
      fc.property(methodArb(kind), (m) => {
        assert.deepStrictEqual(decodeMethod(encodeMethod(m)), m);
      }),
      { seed: SEED, numRuns: 60 },
    );
  }
});

test('methods: writeMethodFrame (hand-written writers included) frames exactly what encodeMethod encodes', () => {
  for (const kind of KINDS) {
    fc.assert(
      fc.property(methodArb(kind), fc.integer({ min: 0, max: 0xffff }), (m, channel) => {
        const payload = encodeMethod(m);
        const frame = frameBytes(channel, m);
        const head = Buffer.from([1, channel >> 8, channel & 0xff, 0, 0, 0, 0]);
        head.writeUInt32BE(payload.length, 3);
        assert.deepStrictEqual(frame, Buffer.concat([head, payload, Buffer.from([0xce])]));
      }),
      { seed: SEED, numRuns: 20 },
    );
  }
});

test('methods: class-id and method-id may be left out when sending', () => {
  assert.deepStrictEqual(frameBytes(1, { kind: 'basic.qos-ok' }), hex('01 0001 00000004 003c 000b ce'));
  assert.deepStrictEqual(
    encodeMethod({ kind: 'basic.cancel', consumerTag: 'c', noWait: true }),
    encodeMethod({ kind: 'basic.cancel', classId: 60, methodId: 30, consumerTag: 'c', noWait: true }),
  );
});

test('methods: known bytes written from the spec decode to the expected objects', () => {
  // connection.tune-ok (10/31): channel-max 2047, frame-max 131072, heartbeat 60.
  assert.deepStrictEqual(decodeMethod(hex('000a 001f 07ff 00020000 003c')), {
    kind: 'connection.tune-ok',
    classId: 10,
    methodId: 31,
    channelMax: 2047,
    frameMax: 131072,
    heartbeat: 60,
  });
  // basic.publish (60/40): ticket 0, exchange "amq.topic", routing key "a.b", mandatory only.
  const publish = hex('003c 0028 0000 09 616d712e746f706963 03 612e62 01');
  assert.deepStrictEqual(decodeMethod(publish), {
    kind: 'basic.publish',
    classId: 60,
    methodId: 40,
    exchange: 'amq.topic',
    routingKey: 'a.b',
    mandatory: true,
    immediate: false,
  });
  assert.deepStrictEqual(
    frameBytes(3, {
      kind: 'basic.publish',
      exchange: 'amq.topic',
      routingKey: 'a.b',
      mandatory: true,
      immediate: false,
    }),
    Buffer.concat([hex('01 0003 00000015'), publish, hex('ce')]),
  );
  // exchange.declare: bits passive(0) durable(1) auto-delete(2) internal(3) no-wait(4) share an octet.
  assert.deepStrictEqual(decodeMethod(hex('0028 000a 0000 01 78 05 746f706963 12 00000000')), {
    kind: 'exchange.declare',
    classId: 40,
    methodId: 10,
    exchange: 'x',
    type: 'topic',
    passive: false,
    durable: true,
    autoDelete: false,
    internal: false,
    noWait: true,
    arguments: {},
  });
  // basic.deliver (60/60): consumer tag "ct", tag 2^32 + 1, redelivered, exchange "", key "q".
  assert.deepStrictEqual(decodeMethod(hex('003c 003c 02 6374 0000000100000001 01 00 01 71')), {
    kind: 'basic.deliver',
    classId: 60,
    methodId: 60,
    consumerTag: 'ct',
    deliveryTag: 2 ** 32 + 1,
    redelivered: true,
    exchange: '',
    routingKey: 'q',
  });
  // basic.nack (60/120): tag 5, multiple and requeue.
  assert.deepStrictEqual(decodeMethod(hex('003c 0078 0000000000000005 03')), {
    kind: 'basic.nack',
    classId: 60,
    methodId: 120,
    deliveryTag: 5,
    multiple: true,
    requeue: true,
  });
  // connection.open: vhost "/", reserved capabilities "" and insist bit are dropped.
  assert.deepStrictEqual(decodeMethod(hex('000a 0028 01 2f 00 01')), {
    kind: 'connection.open',
    classId: 10,
    methodId: 40,
    virtualHost: '/',
  });
  // connection.start-ok: client-properties {}, mechanism PLAIN, response \0u\0p, locale en_US.
  assert.deepStrictEqual(
    decodeMethod(hex('000a 000b 00000000 05 504c41494e 00000004 00750070 05 656e5f5553')),
    {
      kind: 'connection.start-ok',
      classId: 10,
      methodId: 11,
      clientProperties: {},
      mechanism: 'PLAIN',
      response: Buffer.from('\0u\0p'),
      locale: 'en_US',
    },
  );
  // connection.close on the wire carries the failing method's ids.
  assert.deepStrictEqual(
    encodeMethod({
      kind: 'connection.close',
      replyCode: 540,
      replyText: 'x',
      replyClassId: 60,
      replyMethodId: 200,
    }),
    hex('000a 0032 021c 01 78 003c 00c8'),
  );
});

test('methods: an unknown class or method is NOT_IMPLEMENTED; no method id is a FRAME_ERROR', () => {
  assert.throws(() => decodeMethod(hex('003c 00c8 00')), isCode('NOT_IMPLEMENTED')); // basic.credit
  assert.throws(() => decodeMethod(hex('001e 000a 00 00')), isCode('NOT_IMPLEMENTED')); // access.request
  assert.throws(() => decodeMethod(hex('ffff ffff')), isCode('NOT_IMPLEMENTED'));
  for (const p of ['', '00', '003c', '003c00'])
    assert.throws(() => decodeMethod(hex(p)), isCode('FRAME_ERROR'));
  assert.equal(methodKindOf(60, 40), 'basic.publish');
  assert.equal(methodKindOf(60, 200), undefined);
});

test('methods: every truncation and every trailing byte is a SYNTAX_ERROR', () => {
  for (const kind of KINDS) {
    const [m] = fc.sample(methodArb(kind), { seed: SEED, numRuns: 1 });
    const full = encodeMethod(m!);
    for (let n = 4; n < full.length; n++) {
      assert.throws(() => decodeMethod(full.subarray(0, n)), isCode('SYNTAX_ERROR'), `${kind} cut at ${n}`);
    }
    const longer = Buffer.concat([full, Buffer.from([0])]);
    assert.throws(() => decodeMethod(longer), isCode('SYNTAX_ERROR'), `${kind} + 1 byte`);
  }
});

test('methods: malformed UTF-8 in a method short string is a SYNTAX_ERROR', () => {
  assert.throws(() => decodeMethod(hex('003c 0028 0000 01 ff 00 00')), isCode('SYNTAX_ERROR'));
  assert.throws(() => decodeMethod(hex('0032 0014 0000 02 c328 00 00 00 00000000')), isCode('SYNTAX_ERROR'));
  // Valid non-ASCII passes.
  const m = decodeMethod(hex('003c 0028 0000 02 c3a9 00 00'));
  assert.equal(m.kind === 'basic.publish' && m.exchange, 'é');
});

test('methods: a delivery tag past 2^53 is a SYNTAX_ERROR', () => {
  assert.throws(() => decodeMethod(hex('003c 0050 0020000000000000 00')), isCode('SYNTAX_ERROR'));
  assert.throws(() => decodeMethod(hex('003c 005a ffffffffffffffff 00')), isCode('SYNTAX_ERROR'));
  assert.equal(
    (decodeMethod(hex('003c 0050 001fffffffffffff 00')) as { deliveryTag: number }).deliveryTag,
    2 ** 53 - 1,
  );
});

test('methods: values a field cannot carry throw INTERNAL_ERROR and leave nothing half-written', () => {
  const out = new OutBuffer();
  writeMethodFrame(out, 1, { kind: 'basic.qos-ok' });
  const before = out.length;
  const bad: Parameters<typeof encodeMethod>[0][] = [
    { kind: 'basic.consume-ok', consumerTag: 'x'.repeat(256) },
    { kind: 'basic.consume-ok', consumerTag: 'é'.repeat(128) }, // 256 bytes
    {
      kind: 'basic.deliver',
      consumerTag: 'c',
      deliveryTag: 1,
      redelivered: false,
      exchange: '',
      routingKey: 'k'.repeat(300),
    },
    {
      kind: 'basic.return',
      replyCode: 312,
      replyText: 'NO_ROUTE',
      exchange: 'e'.repeat(256),
      routingKey: '',
    },
    {
      kind: 'basic.get-ok',
      deliveryTag: 1,
      redelivered: false,
      exchange: '',
      routingKey: 'é'.repeat(200),
      messageCount: 0,
    },
    { kind: 'connection.tune', channelMax: 65536, frameMax: 0, heartbeat: 0 },
    { kind: 'connection.tune', channelMax: 0, frameMax: -1, heartbeat: 0 },
    { kind: 'queue.declare-ok', queue: 'q', messageCount: 1.5, consumerCount: 0 },
    {
      kind: 'connection.start',
      versionMajor: 256,
      versionMinor: 9,
      serverProperties: {},
      mechanisms: '',
      locales: '',
    },
  ];
  for (const m of bad) {
    assert.throws(() => writeMethodFrame(out, 1, m), isCode('INTERNAL_ERROR'), m.kind);
    assert.equal(out.length, before, `${m.kind} left bytes behind`);
  }
  assert.deepStrictEqual(Buffer.concat(out.take()), hex('01 0001 00000004 003c 000b ce'));
});

test('methods: content and synchronous-request information', () => {
  assert.deepStrictEqual([...CONTENT_METHODS].sort(), [
    'basic.deliver',
    'basic.get-ok',
    'basic.publish',
    'basic.return',
  ]);
  assert.equal(
    isSynchronousRequest({
      kind: 'queue.declare',
      queue: '',
      passive: false,
      durable: false,
      exclusive: false,
      autoDelete: false,
      noWait: false,
      arguments: {},
    }),
    true,
  );
  assert.equal(
    isSynchronousRequest({
      kind: 'queue.declare',
      queue: '',
      passive: false,
      durable: false,
      exclusive: false,
      autoDelete: false,
      noWait: true,
      arguments: {},
    }),
    false,
  );
  assert.equal(
    isSynchronousRequest({
      kind: 'basic.publish',
      exchange: '',
      routingKey: '',
      mandatory: false,
      immediate: false,
    }),
    false,
  );
  assert.equal(isSynchronousRequest({ kind: 'tx.commit' }), true);
});
