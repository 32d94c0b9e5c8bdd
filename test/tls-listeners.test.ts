/**
 * TLS on every listener, with real clients and certificates made at test time with openssl:
 * amqplib over amqps://, pika with SSL, mosquitto_pub --cafile, MQTT.js over mqtts:// and
 * wss://, curl --cacert against HTTPS, grpcio with TLS credentials (ALPN h2), and openssl
 * s_client refused below tls.minVersion. Also: TLS ports are off without the tls section, and a
 * TLS port asked for without it is a configuration error.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { loadConfig } from '../src/config/load.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { run, within } from './interop-support.js';
import { makeTestCa, type TestCa, tlsExtra } from './support/certs.js';
import { removeTempDir, tempDir } from './support/temp.js';
import { PYTHON, skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const PY = join(dirname(fileURLToPath(import.meta.url)), 'py/tls_clients.py');

const skipOpenssl = await skipUnless('openssl');

describe('tls: every listener over TLS', { skip: skipOpenssl }, () => {
  let dir: string;
  let ca: TestCa;
  let b: TestBroker;
  let caPem: Buffer;
  const port = (name: 'amqps' | 'mqtts' | 'https' | 'grpcs') => {
    const l = b.server.listeners.find((x) => x.protocol === name);
    assert.ok(l, `no ${name} listener`);
    return l.port;
  };

  before(async () => {
    dir = tempDir('switchyard-tls-');
    ca = makeTestCa(dir);
    caPem = readFileSync(ca.caFile);
    b = await startTestBroker({ tlsPort: 0 }, undefined, tlsExtra(ca));
  });
  after(async () => {
    await b?.close();
    await removeTempDir(dir);
  });

  test('tls: the plain listeners stay open beside the TLS ones', () => {
    const names = b.server.listeners.map((l) => l.protocol).sort();
    assert.deepEqual(names, ['amqp', 'amqps', 'grpc', 'grpcs', 'http', 'https', 'mqtt', 'mqtts']);
  });

  test('tls: amqplib over amqps:// publishes and consumes', async () => {
    const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${port('amqps')}`, { ca: [caPem] });
    try {
      const ch = await conn.createChannel();
      const q = uniq('amqps');
      await ch.assertQueue(q, { autoDelete: true });
      ch.sendToQueue(q, Buffer.from('over tls'));
      const got = await within(
        new Promise<string>((resolve) => {
          void ch.consume(q, (m) => m && resolve(m.content.toString()), { noAck: true });
        }),
        WAIT_MS,
        'the message over amqps',
      );
      assert.equal(got, 'over tls');
    } finally {
      await conn.close();
    }
  });

  test('tls: amqplib refuses a broker its CA does not know (the listener really is TLS)', async () => {
    await assert.rejects(
      amqp.connect(`amqps://guest:guest@127.0.0.1:${port('amqps')}`),
      /self[- ]signed|unable to verify|unable to get local issuer/i,
    );
  });

  test('tls: pika with SSL publishes and gets', async (t) => {
    const skip = await skipUnless('python3-pika');
    if (skip) return t.skip(skip);
    const q = uniq('pika-tls');
    const r = await run(PYTHON, [PY, 'pika', '127.0.0.1', String(port('amqps')), ca.caFile, q], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { connected: true, body: 'from pika' });
  });

  /** An MQTT.js client, ended after the test. */
  async function mqttClient(url: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
    return mqtt.connectAsync(url, { ca: caPem, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
  }

  /** Subscribes `sub` to `topic` and resolves with the first payload published to it. */
  async function firstMessage(sub: MqttClient, topic: string): Promise<{ next: Promise<string> }> {
    const next = within(
      new Promise<string>((resolve) => sub.once('message', (_t, p) => resolve(p.toString()))),
      WAIT_MS,
      `a message on ${topic}`,
    );
    await sub.subscribeAsync(topic, { qos: 1 });
    return { next };
  }

  test('tls: MQTT.js over mqtts:// and wss:// (/mqtt on the HTTPS listener)', async () => {
    const topic = `tls/${uniq('t')}`;
    const sub = await mqttClient(`mqtts://127.0.0.1:${port('mqtts')}`);
    const pub = await mqttClient(`wss://127.0.0.1:${port('https')}/mqtt`);
    try {
      const { next } = await firstMessage(sub, topic);
      await pub.publishAsync(topic, 'wss to mqtts', { qos: 1 });
      assert.equal(await next, 'wss to mqtts');
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    }
  });

  test('tls: mosquitto_pub --cafile over MQTTS', async (t) => {
    const skip = await skipUnless('mosquitto-clients');
    if (skip) return t.skip(skip);
    const topic = `tls/${uniq('mosq')}`;
    const sub = await mqttClient(`mqtts://127.0.0.1:${port('mqtts')}`);
    try {
      const { next } = await firstMessage(sub, topic);
      const r = await run('/usr/bin/mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(port('mqtts')), '--cafile', ca.caFile],
        ...['-t', topic, '-m', 'from mosquitto_pub', '-q', '1'],
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await next, 'from mosquitto_pub');
    } finally {
      await sub.endAsync();
    }
  });

  test('tls: curl --cacert publishes over HTTPS; without the CA it refuses the certificate', async (t) => {
    const noCurl = await skipUnless('curl');
    if (noCurl !== false) return t.skip(noCurl);
    const url = `https://127.0.0.1:${port('https')}/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=x`;
    const ok = await run('curl', ['-sS', '--cacert', ca.caFile, '-X', 'POST', '--data', 'hi', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { routed: 0 });
    const bad = await run('curl', ['-sS', '-X', 'POST', '--data', 'hi', url]);
    assert.equal(bad.code, 60, `curl exit 60 is "peer certificate cannot be authenticated": ${bad.stderr}`);
  });

  test('tls: grpcio with TLS credentials: health and a Broker call (ALPN h2)', async (t) => {
    const skip = await skipUnless('python3-grpcio');
    if (skip) return t.skip(skip);
    const q = uniq('grpcs');
    const r = await run(PYTHON, [PY, 'grpc', `127.0.0.1:${port('grpcs')}`, ca.caFile, q], {
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    assert.equal(r.code, 0, r.stderr);
    // Health SERVING is the bytes 08 01; guest-less loopback calls act as 'anonymous'.
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').at(-1)!), { health: [8, 1], declare: 'OK' });
  });

  test('tls: the gRPC port offers h2 only in ALPN', async () => {
    const h2 = await sClient(port('grpcs'), ['-alpn', 'h2']);
    assert.match(h2.stdout, /ALPN protocol: h2/);
    const h1 = await sClient(port('grpcs'), ['-alpn', 'http/1.1']);
    assert.doesNotMatch(h1.stdout, /ALPN protocol: http\/1\.1/);
  });

  test('tls: openssl s_client is refused TLS 1.1 and accepted with TLS 1.2 on every TLS port', async () => {
    for (const name of ['amqps', 'mqtts', 'https', 'grpcs'] as const) {
      const old = await sClient(port(name), ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
      assert.notEqual(old.code, 0, `${name} accepted TLS 1.1:\n${old.stdout}`);
      assert.match(old.stdout + old.stderr, /protocol version|no protocols available|unsupported protocol/i);
      const ok = await sClient(port(name), ['-tls1_2']);
      assert.equal(ok.code, 0, `${name}: ${ok.stderr}`);
      assert.match(ok.stdout, /Protocol\s*:\s*TLSv1\.2/);
      assert.match(ok.stdout, /Verify return code: 0 \(ok\)/);
    }
  });

  /** openssl s_client against 127.0.0.1:port, verifying with the test CA; stdin closed at once. */
  function sClient(p: number, args: string[]) {
    return run('/usr/bin/openssl', [
      ...['s_client', '-connect', `127.0.0.1:${p}`, '-CAfile', ca.caFile, '-verify_return_error'],
      ...['-servername', 'localhost', ...args],
    ]);
  }
});

describe('tls: minVersion and the section being absent', { skip: skipOpenssl }, () => {
  test('tls: minVersion TLSv1.3 refuses a TLS 1.2 client', async (t) => {
    const dir = tempDir('switchyard-tls-', t);
    const ca = makeTestCa(dir);
    const b = await startTestBroker({ tlsPort: 0 }, undefined, tlsExtra(ca, { minVersion: 'TLSv1.3' }));
    try {
      const p = b.server.amqps!.address.port;
      const old = await run('/usr/bin/openssl', ['s_client', '-connect', `127.0.0.1:${p}`, '-tls1_2']);
      assert.notEqual(old.code, 0);
      const ok = await run('/usr/bin/openssl', ['s_client', '-connect', `127.0.0.1:${p}`, '-tls1_3']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /TLSv1\.3/);
    } finally {
      await b.close();
    }
  });

  test('tls: without the tls section no TLS port opens', async () => {
    const b = await startTestBroker();
    try {
      assert.equal(b.server.amqps, undefined);
      assert.equal(b.server.mqtts, undefined);
      assert.equal(b.server.https, undefined);
      assert.equal(b.server.grpcs, undefined);
      assert.deepEqual(b.server.listeners.map((l) => l.protocol).sort(), ['amqp', 'grpc', 'http', 'mqtt']);
    } finally {
      await b.close();
    }
  });

  test('tls: a TLS port, client verification or certLogin without what it needs is a config error', () => {
    const load = (overrides: Record<string, unknown>) => () => loadConfig({ env: {}, overrides });
    assert.throws(load({ 'amqp.tlsPort': 5671 }), /amqp\.tlsPort: a TLS port needs the tls section/);
    assert.doesNotThrow(load({ 'amqp.tlsPort': 'off' }));
    assert.throws(
      load({ 'tls.certFile': 'c.pem', 'tls.keyFile': 'k.pem', 'tls.verifyClients': 'required' }),
      /tls\.caFile: verifyClients 'required' needs caFile/,
    );
    assert.throws(
      load({ 'mqtt.certLogin': true }),
      /mqtt\.certLogin: certificate login needs tls\.verifyClients/,
    );
  });

  test('tls: certificate files that do not load stop start-up, naming the file', async (t) => {
    const dir = tempDir('switchyard-tls-', t);
    const ca = makeTestCa(dir);
    const other = ca.issue('other', { cn: 'localhost', server: true });
    await assert.rejects(
      startTestBroker({ tlsPort: 0 }, undefined, tlsExtra(ca, { keyFile: join(dir, 'missing.key') })),
      /tls\.keyFile: cannot read .*missing\.key/,
    );
    await assert.rejects(
      startTestBroker({ tlsPort: 0 }, undefined, tlsExtra(ca, { keyFile: other.key })),
      /do not make a usable certificate: .*key values mismatch/,
    );
  });
});
