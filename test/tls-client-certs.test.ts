/**
 * Client certificates as identity (tls.verifyClients): the subject CN of a verified certificate
 * logs in as that user over AMQP (SASL EXTERNAL: amqplib and pika), MQTT (mqtt.certLogin:
 * MQTT.js over mqtts:// and wss://, mosquitto_pub --cert), HTTPS (curl --cert) and gRPC over TLS
 * (grpcio), if that user exists; a CN that is not a user, and a certificate the CA did not sign,
 * log in as nobody. With verifyClients 'required' the handshake itself needs a certificate.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { run, within } from './interop-support.js';
import { makeTestCa, type TestCa, tlsExtra } from './support/certs.js';
import { removeTempDir, tempDir } from './support/temp.js';
import { PYTHON, skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const PY = join(dirname(fileURLToPath(import.meta.url)), 'py/tls_clients.py');

interface Pair {
  readonly cert: string;
  readonly key: string;
}

const skipOpenssl = await skipUnless('openssl');

describe('tls: client certificates as identity (verifyClients optional)', { skip: skipOpenssl }, () => {
  let dir: string;
  let ca: TestCa;
  let caPem: Buffer;
  let b: TestBroker;
  /** CN=alice, a user; CN=mallory, not a user; CN=alice from a CA the broker does not trust. */
  let alice: Pair;
  let mallory: Pair;
  let forged: Pair;
  const port = (name: 'amqps' | 'mqtts' | 'https' | 'grpcs') =>
    b.server.listeners.find((x) => x.protocol === name)!.port;
  const tlsOf = (p: Pair) => ({ ca: caPem, cert: readFileSync(p.cert), key: readFileSync(p.key) });

  before(async () => {
    dir = tempDir('switchyard-tls-certs-');
    ca = makeTestCa(dir);
    caPem = readFileSync(ca.caFile);
    alice = ca.issue('alice', { cn: 'alice' });
    mallory = ca.issue('mallory', { cn: 'mallory' });
    forged = makeTestCa(tempDir('switchyard-tls-other-'), 'Another CA').issue('alice', { cn: 'alice' });
    const extra = tlsExtra(ca, { verifyClients: 'optional' }, { certLogin: true, anonymous: 'never' });
    b = await startTestBroker({ tlsPort: 0 }, undefined, {
      ...extra,
      http: { ...extra.http, anonymous: 'never' },
      grpc: { ...extra.grpc, anonymous: 'never' },
      users: { guest: 'guest', alice: 'not-her-certificate' },
      permissions: ['guest', 'alice'].map((user) => ({ user, configure: '.*', write: '.*', read: '.*' })),
    });
  });
  after(async () => {
    await b?.close();
    await removeTempDir(dir);
  });

  /** amqplib over AMQPS with `pair` and SASL EXTERNAL. */
  const external = (pair: Pair) =>
    amqp.connect(
      { protocol: 'amqps', hostname: '127.0.0.1', port: port('amqps') },
      { ...tlsOf(pair), credentials: amqp.credentials.external() },
    );

  test('tls: AMQP EXTERNAL (amqplib) logs in as the certificate CN', async () => {
    const conn = await external(alice);
    try {
      // The broker checks user_id against the logged-in user (as RabbitMQ does): 'alice' passes.
      const ch = await conn.createConfirmChannel();
      const q = uniq('ext');
      await ch.assertQueue(q, { autoDelete: true });
      await new Promise<void>((resolve, reject) =>
        ch.sendToQueue(q, Buffer.from('x'), { userId: 'alice' }, (e) => (e ? reject(e) : resolve())),
      );
      const closed = within(
        new Promise<Error>((resolve) => ch.once('error', resolve)),
        WAIT_MS,
        'the channel error for a user_id that is not the user',
      );
      ch.sendToQueue(q, Buffer.from('y'), { userId: 'guest' });
      assert.match(
        String(await closed),
        /user_id property set to 'guest' but authenticated user was 'alice'/,
      );
    } finally {
      await conn.close();
    }
  });

  test('tls: AMQP EXTERNAL is refused for a CN that is not a user and for an untrusted certificate', async () => {
    await assert.rejects(
      external(mallory),
      /ACCESS_REFUSED|403|Login was refused using authentication mechanism EXTERNAL/,
    );
    // Another CA's certificate is not verified: no identity, so EXTERNAL is not even offered.
    await assert.rejects(external(forged), /EXTERNAL/);
  });

  test('tls: AMQP without a client certificate: EXTERNAL not offered, PLAIN still works', async () => {
    await assert.rejects(
      amqp.connect(
        { protocol: 'amqps', hostname: '127.0.0.1', port: port('amqps') },
        { ca: caPem, credentials: amqp.credentials.external() },
      ),
      /EXTERNAL/,
    );
    const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${port('amqps')}`, { ca: caPem });
    await conn.close();
  });

  test('tls: pika with ExternalCredentials logs in with its certificate', async (t) => {
    const skip = await skipUnless('python3-pika');
    if (skip) return t.skip(skip);
    const ask = (p: Pair) =>
      run(
        PYTHON,
        [PY, 'pika', '127.0.0.1', String(port('amqps')), ca.caFile, uniq('pika-ext'), p.cert, p.key],
        {
          env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
        },
      );
    const ok = await ask(alice);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout.trim().split('\n').at(-1)!), {
      connected: true,
      body: 'from pika',
    });
    const refused = await ask(mallory);
    assert.equal(refused.code, 0, refused.stderr);
    assert.equal(JSON.parse(refused.stdout.trim().split('\n').at(-1)!).connected, false);
  });

  /** Connects MQTT.js without a user name; resolves 'ok' or the refusal. */
  async function mqttLogin(url: string, opts: mqtt.IClientOptions): Promise<string> {
    try {
      const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
      await c.endAsync();
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  }

  test('tls: MQTT certLogin (MQTT.js over mqtts:// and wss://): the CN is the user', async () => {
    const tcp = `mqtts://127.0.0.1:${port('mqtts')}`;
    const wss = `wss://127.0.0.1:${port('https')}/mqtt`;
    for (const url of [tcp, wss]) {
      assert.equal(await mqttLogin(url, tlsOf(alice)), 'ok', url);
      // anonymous: 'never', so without the certificate the same client is refused.
      assert.match(await mqttLogin(url, { ca: caPem }), /Not authorized|Bad username or password/i, url);
      assert.match(await mqttLogin(url, tlsOf(mallory)), /Bad username or password|Not authorized/i, url);
      assert.match(
        await mqttLogin(url, { ...tlsOf(forged), ca: caPem }),
        /Not authorized|Bad username/i,
        url,
      );
    }
    // A v5 client is told why.
    assert.match(
      await mqttLogin(tcp, { ...tlsOf(mallory), protocolVersion: 5 }),
      /certificate user 'mallory' refused: not a broker user|Bad User Name or Password/i,
    );
  });

  test('tls: MQTT certLogin with mosquitto_pub --cert/--key', async (t) => {
    const skip = await skipUnless('mosquitto-clients');
    if (skip) return t.skip(skip);
    const pub = (p: Pair | undefined) =>
      run('/usr/bin/mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(port('mqtts')), '--cafile', ca.caFile],
        ...(p === undefined ? [] : ['--cert', p.cert, '--key', p.key]),
        ...['-t', 'certs/mosquitto', '-m', 'hi', '-q', '1'],
      ]);
    const ok = await pub(alice);
    assert.equal(ok.code, 0, ok.stderr);
    const without = await pub(undefined);
    assert.notEqual(without.code, 0);
    assert.match(without.stderr, /not authori[sz]ed|refused/i);
  });

  test('tls: HTTPS (curl --cert) acts as the CN when there is no Authorization header', async (t) => {
    const noCurl = await skipUnless('curl');
    if (noCurl !== false) return t.skip(noCurl);
    const url = `https://127.0.0.1:${port('https')}/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=x`;
    const curl = (p: Pair | undefined, extra: string[] = []) =>
      run('curl', [
        ...['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', ca.caFile],
        ...(p === undefined ? [] : ['--cert', p.cert, '--key', p.key]),
        ...['-X', 'POST', '--data', 'hi', ...extra, url],
      ]);
    assert.equal((await curl(alice)).stdout, '200');
    assert.equal((await curl(undefined)).stdout, '401', 'http.anonymous is never');
    assert.equal((await curl(mallory)).stdout, '401');
    assert.equal((await curl(forged)).stdout, '401');
    // An Authorization header wins over the certificate.
    assert.equal((await curl(alice, ['-u', 'guest:wrong'])).stdout, '401');
    assert.equal((await curl(mallory, ['-u', 'guest:guest'])).stdout, '200');
  });

  test('tls: gRPC over TLS (grpcio) acts as the CN when there is no authorization metadata', async (t) => {
    const skip = await skipUnless('python3-grpcio');
    if (skip) return t.skip(skip);
    const call = async (p: Pair | undefined) => {
      const r = await run(
        PYTHON,
        [
          PY,
          'grpc',
          `127.0.0.1:${port('grpcs')}`,
          ca.caFile,
          uniq('grpc-cert'),
          ...(p ? [p.cert, p.key] : []),
        ],
        { env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
      );
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { declare: string };
    };
    assert.equal((await call(alice)).declare, 'OK');
    assert.equal((await call(undefined)).declare, 'UNAUTHENTICATED', 'grpc.anonymous is never');
    assert.equal((await call(mallory)).declare, 'UNAUTHENTICATED');
  });
});

describe('tls: verifyClients required', { skip: skipOpenssl }, () => {
  test('tls: the handshake fails without a certificate the CA signed, succeeds with one', async (t) => {
    const noCurl = await skipUnless('curl');
    if (noCurl !== false) return t.skip(noCurl);
    const dir = tempDir('switchyard-tls-req-', t);
    const ca = makeTestCa(dir);
    const alice = ca.issue('alice', { cn: 'alice' });
    const b = await startTestBroker({ tlsPort: 0 }, undefined, tlsExtra(ca, { verifyClients: 'required' }));
    try {
      const url = `https://127.0.0.1:${b.server.https!.address.port}/api/v1/vhosts/%2F/exchanges/amq.topic/publish`;
      const base = [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--cacert',
        ca.caFile,
        '-X',
        'POST',
        '-d',
        'x',
      ];
      const without = await run('curl', [...base, url]);
      assert.notEqual(without.code, 0, 'no certificate: the handshake is refused');
      const withCert = await run('curl', [
        ...base,
        '--cert',
        alice.cert,
        '--key',
        alice.key,
        '-u',
        'guest:guest',
        url,
      ]);
      assert.equal(withCert.stdout, '200', withCert.stderr);
      const caPem = readFileSync(ca.caFile);
      await assert.rejects(
        amqp.connect(`amqps://guest:guest@127.0.0.1:${b.server.amqps!.address.port}`, { ca: caPem }),
      );
    } finally {
      await b.close();
    }
  });
});
