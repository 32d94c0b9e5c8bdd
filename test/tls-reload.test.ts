/**
 * Certificate reload: when the files change (fs.watchFile) and on SIGHUP (the switchyard command),
 * new handshakes get the new certificate while open connections go on undisturbed; files that do
 * not load leave the previous certificate in use and say why.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { configSchema } from '../src/config/schema.js';
import { type RunningServer, startServer } from '../src/server/index.js';
import type { ReloadResult } from '../src/server/tls.js';
import { uniq } from './helpers.js';
import { within } from './interop-support.js';
import { makeTestCa, type TestCa, tlsExtra } from './support/certs.js';
import { removeTempDir, tempDir } from './support/temp.js';
import { skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const root = join(import.meta.dirname, '..');

/** The SHA-256 fingerprint of the certificate a TLS server on 127.0.0.1:port presents now. */
function presented(port: number, caPem: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost' }, () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.end();
        resolve(fp);
      });
      s.once('error', reject);
    }),
    WAIT_MS,
    `a handshake on ${port}`,
  );
}

/** The fingerprint of a PEM certificate file, as Node reports it. */
function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Replaces the broker's certificate and key with another pair (key first, as certbot does). */
function install(ca: TestCa, pair: { cert: string; key: string }): void {
  copyFileSync(pair.key, ca.keyFile);
  copyFileSync(pair.cert, ca.certFile);
}

/** A round trip on an open AMQP channel: the connection still works. */
async function roundTrip(ch: Channel, body: string): Promise<string> {
  const q = uniq('reload');
  await ch.assertQueue(q, { autoDelete: true });
  ch.sendToQueue(q, Buffer.from(body));
  const got = await within(
    new Promise<string>((resolve) => {
      void ch.consume(q, (m) => m && resolve(m.content.toString()), { noAck: true });
    }),
    WAIT_MS,
    'a message on the open connection',
  );
  return got;
}

const skip = await skipUnless('openssl');

describe('tls: certificate reload when the files change', { skip }, () => {
  let dir: string;
  let ca: TestCa;
  let caPem: string;
  let server: RunningServer;
  const reloads: ReloadResult[] = [];
  let waiters: (() => void)[] = [];
  /** Resolves with the first reload result after now that `ok` matches. */
  const nextReload = (ok: boolean) =>
    within(
      new Promise<ReloadResult>((resolve) => {
        const seen = reloads.length;
        const check = () => {
          const r = reloads.slice(seen).find((x) => x.ok === ok);
          if (r !== undefined) resolve(r);
          else waiters.push(check);
        };
        check();
      }),
      WAIT_MS,
      `a reload with ok=${ok}`,
    );

  before(async () => {
    dir = tempDir('switchyard-tls-reload-');
    ca = makeTestCa(dir);
    caPem = readFileSync(ca.caFile, 'utf8');
    const config = configSchema.parse({
      host: '127.0.0.1',
      dataDir: join(dir, 'data'),
      amqp: { port: 0, tlsPort: 0 },
      ...tlsExtra(ca),
    });
    server = await startServer(config, 'test', {
      tls: {
        pollMs: 50,
        debounceMs: 100,
        onReload: (r) => {
          reloads.push(r);
          const w = waiters;
          waiters = [];
          for (const f of w) f();
        },
      },
    });
  });
  after(async () => {
    await server?.close();
    await removeTempDir(dir);
  });

  test('tls: new handshakes get the new certificate, open AMQPS and MQTTS connections stay', async () => {
    const amqps = server.amqps!.address.port;
    const mqtts = server.mqtts!.address.port;
    const first = fingerprintOf(ca.certFile);
    assert.equal(await presented(amqps, caPem), first);

    const conn: ChannelModel = await amqp.connect(`amqps://guest:guest@127.0.0.1:${amqps}`, { ca: [caPem] });
    let amqpClosed = false;
    conn.on('close', () => {
      amqpClosed = true;
    });
    const ch = await conn.createChannel();
    const sub: MqttClient = await mqtt.connectAsync(`mqtts://127.0.0.1:${mqtts}`, {
      ca: caPem,
      username: 'guest',
      password: 'guest',
      reconnectPeriod: 0,
    });
    let mqttClosed = false;
    sub.on('close', () => {
      mqttClosed = true;
    });
    try {
      assert.equal(await roundTrip(ch, 'before'), 'before');

      const second = ca.issue('server-2', { cn: 'localhost', server: true });
      const reloaded = nextReload(true);
      install(ca, second);
      await reloaded;
      const secondFp = fingerprintOf(second.cert);
      assert.notEqual(secondFp, first);
      for (const p of [amqps, mqtts, server.https!.address.port, server.grpcs!.address.port]) {
        assert.equal(await presented(p, caPem), secondFp, `port ${p} presents the new certificate`);
      }

      // The connections opened before the reload were not touched.
      assert.equal(await roundTrip(ch, 'after'), 'after');
      const topic = `reload/${uniq('t')}`;
      const got = within(
        new Promise<string>((resolve) => sub.once('message', (_t, p) => resolve(p.toString()))),
        WAIT_MS,
        'an MQTT message after the reload',
      );
      await sub.subscribeAsync(topic, { qos: 1 });
      await sub.publishAsync(topic, 'still here', { qos: 1 });
      assert.equal(await got, 'still here');
      assert.equal(amqpClosed, false);
      assert.equal(mqttClosed, false);

      // Files that do not load: the reason is reported, the second certificate stays in use.
      const failed = nextReload(false);
      writeFileSync(
        ca.certFile,
        '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n',
      );
      const r = await failed;
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, /do not make a usable certificate/);
      assert.equal(await presented(amqps, caPem), secondFp);
      assert.equal(await roundTrip(ch, 'after a failed reload'), 'after a failed reload');
    } finally {
      await sub.endAsync();
      await conn.close();
    }
  });
});

describe('tls: the switchyard command reloads on SIGHUP', { skip }, () => {
  test('tls: SIGHUP: the new certificate for new handshakes, the reload reported on stderr', async (t) => {
    const dir = tempDir('switchyard-tls-hup-', t);
    const ca = makeTestCa(dir);
    const caPem = readFileSync(ca.caFile, 'utf8');
    const env = {
      ...process.env,
      SWITCHYARD_TLS_CERT_FILE: ca.certFile,
      SWITCHYARD_TLS_KEY_FILE: ca.keyFile,
    };
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', 'src/cli/main.ts', '--host', '127.0.0.1', '--data-dir', join(dir, 'data')],
        ...['--amqp-port', '0', '--mqtt-port', '0', '--http-port', 'off', '--grpc-port', 'off'],
        ...['--amqps-port', '0', '--mqtts-port', 'off', '--https-port', 'off', '--grpcs-port', 'off'],
      ],
      { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const waiting: (() => void)[] = [];
    const onOutput = (d: Buffer) => {
      output += d.toString();
      for (const w of waiting.splice(0)) w();
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    /** Resolves with the first match of `re` in the output (bounded). */
    const seen = (re: RegExp) =>
      within(
        new Promise<RegExpExecArray>((resolve) => {
          const check = () => {
            const m = re.exec(output);
            if (m !== null) resolve(m);
            else waiting.push(check);
          };
          check();
        }),
        WAIT_MS,
        `${re} in the output: ${output}`,
      );
    try {
      const port = Number((await seen(/amqps listening on [\d.]+:(\d+)/))[1]);
      await seen(/ready/);
      const first = await presented(port, caPem);
      const conn = await amqp.connect(`amqps://guest:guest@127.0.0.1:${port}`, { ca: [caPem] });
      try {
        const ch = await conn.createChannel();
        const second = ca.issue('server-2', { cn: 'localhost', server: true });
        install(ca, second);
        child.kill('SIGHUP');
        await seen(/TLS certificates reloaded \(SIGHUP\)/);
        const now = await presented(port, caPem);
        assert.notEqual(now, first);
        assert.equal(now, fingerprintOf(second.cert));
        assert.equal(await roundTrip(ch, 'after SIGHUP'), 'after SIGHUP');
      } finally {
        await conn.close();
      }
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    }
  });
});
