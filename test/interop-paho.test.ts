/**
 * Interop with paho-mqtt for Python (1.6 on Debian 12, 2.x on Debian 13: the scripts handle
 * both) over MQTT 3.1.1 and 5, on real sockets (TCP, and WebSocket at /mqtt on the HTTP port).
 * Each scenario is a script under test/py/mqtt_*.py run by the system Python (/usr/bin/python3,
 * which has python3-paho-mqtt); it prints one JSON object with what it observed, or exits
 * non-zero with a trace. Every wait inside the scripts is bounded.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';
import { run } from './interop-support.js';
import { tempDir } from './support/temp.js';
import { PAHO_PYTHON as PYTHON, skipUnless } from './support/tools.js';
import { harness } from './support/mqtt-session.js';

const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), 'py');

const skip = await skipUnless('python3-paho-mqtt');

/**
 * Runs test/py/mqtt_<name>.py against `port` with `prefix` (unique by default) and `key=value`
 * options; returns the parsed JSON it printed.
 */
async function py(
  name: string,
  port: number,
  opts: Record<string, string | number> = {},
  prefix = uniq(`paho-${name}`),
): Promise<Record<string, unknown>> {
  const args = [join(PY_DIR, `mqtt_${name}.py`), '127.0.0.1', String(port), prefix];
  for (const [k, v] of Object.entries(opts)) args.push(`${k}=${v}`);
  const r = await run(PYTHON, args, {
    timeoutMs: 30_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(
    r.code,
    0,
    `mqtt_${name}.py ${args.slice(1).join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`,
  );
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

/**
 * Runs test/py/mqtt_<name>.py against a broker of its own on a ManualClock, which the script
 * moves: it prints `{"advance": ms, "closed": [client ids]}` and waits for `ok` (see
 * mqtt_common.advance); the test waits (bounded) until the broker has seen those clients'
 * connections close, moves the clock and answers. Timing is then exact, with no sleep.
 */
async function pyClocked(name: string, prefix = uniq(`paho-${name}`)): Promise<Record<string, unknown>> {
  const h = harness();
  const listener = await h.fe.listen('127.0.0.1', 0);
  const args = [join(PY_DIR, `mqtt_${name}.py`), '127.0.0.1', String(listener.address.port), prefix];
  const child = spawn(PYTHON, args, {
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', MQTT_CLOCK: 'stdio' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const lines: string[] = [];
  let advances = 0;
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    for await (const line of createInterface({ input: child.stdout })) {
      const ask = line.startsWith('{"advance"')
        ? (JSON.parse(line) as { advance: number; closed: string[] })
        : undefined;
      if (ask === undefined) {
        lines.push(line);
        continue;
      }
      const deadline = Date.now() + 5000;
      while (ask.closed.some((id) => h.fe.sessions.get(id)?.connection !== undefined)) {
        assert.ok(Date.now() < deadline, `the broker still has one of ${ask.closed.join(', ')} connected`);
        await new Promise((r) => setTimeout(r, 5));
      }
      h.clock.advance(ask.advance);
      advances++;
      child.stdin.write('ok\n');
    }
    const code = await exited;
    assert.equal(
      code,
      0,
      `mqtt_${name}.py ${args.slice(1).join(' ')} exited ${code}:\n${stderr}${lines.join('\n')}`,
    );
    assert.ok(advances > 0, 'the script moved the broker clock');
    return JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
    await h.close();
    await listener.close();
  }
}

const broker = await startTestBroker();
after(() => broker.close());
const PORT = broker.server.mqtt!.address.port;
const HTTP_PORT = broker.server.http!.address.port;

/** What mqtt_counts.py reports for each QoS when all n arrived once, in order. */
const allOf = (n: number) =>
  Object.fromEntries(
    [0, 1, 2].map((q) => [
      String(q),
      { granted: [q], count: n, in_order: true, unique: n, qos: [q], topics: true },
    ]),
  );

describe('paho-mqtt', { concurrency: true, skip }, () => {
  for (const version of [3, 5]) {
    const v = version === 5 ? 'v5' : 'v3.1.1';

    test(`${v}: QoS 0, 1 and 2, 500 messages each: all once, in order`, async () => {
      assert.deepEqual(await py('counts', PORT, { version, n: 500 }), allOf(500));
    });

    test(`${v}: QoS 0, 1 and 2 over WebSocket (/mqtt on the HTTP port)`, async () => {
      assert.deepEqual(
        await py('counts', HTTP_PORT, { version, n: 100, transport: 'websockets', ws_path: '/mqtt' }),
        allOf(100),
      );
    });

    test(`${v}: persistent session across a reconnect: QoS 1 sent while offline all arrive`, async () => {
      const prefix = uniq('paho-session');
      const o = { version, id: `${prefix}-sub`, topic: `${prefix}/offline`, n: 200 };
      assert.deepEqual(await py('session', PORT, { ...o, phase: 'setup' }, prefix), {
        connack: [0, false],
        granted: [1],
      });
      assert.deepEqual(await py('session', PORT, { ...o, phase: 'publish' }, prefix), { acked: 200 });
      assert.deepEqual(await py('session', PORT, { ...o, phase: 'receive' }, prefix), {
        connack: [0, true],
        count: 200,
        in_order: true,
        qos: [1],
      });
    });

    const restarts = [
      { qos: 1, share: undefined },
      { qos: 2, share: undefined },
      { qos: 1, share: 'g' },
    ] as const;
    for (const { qos, share } of restarts) {
      const what = share === undefined ? '' : ' (shared subscription)';
      test(`${v}: persistent session across a broker restart${what}: QoS ${qos} sent while offline all arrive`, async () => {
        const dir = tempDir('switchyard-paho-restart-');
        let b: TestBroker | undefined = await startTestBroker({}, dir);
        try {
          const prefix = uniq('paho-restart');
          const o = {
            version,
            qos,
            id: `${prefix}-sub`,
            topic: `${prefix}/offline`,
            n: 200,
            ...(share === undefined ? {} : { share }),
          };
          const before = b.server.mqtt!.address.port;
          assert.deepEqual(await py('session', before, { ...o, phase: 'setup' }, prefix), {
            connack: [0, false],
            granted: [qos],
          });
          assert.deepEqual(await py('session', before, { ...o, phase: 'publish' }, prefix), { acked: 200 });
          await b.close();
          b = undefined;
          // Same data directory, new ports.
          b = await startTestBroker({}, dir);
          assert.deepEqual(
            await py('session', b.server.mqtt!.address.port, { ...o, phase: 'receive' }, prefix),
            {
              connack: [0, true],
              count: 200,
              in_order: true,
              qos: [qos],
            },
          );
        } finally {
          await b?.close();
        }
      });
    }

    test(`${v}: session takeover: the first connection is closed, the session goes to the second`, async () => {
      assert.deepEqual(await py('takeover', PORT, { version }), {
        second_connack: [0, true],
        // v5: DISCONNECT 0x8E Session taken over.
        first_closed_with: version === 5 ? 0x8e : 'closed',
        second_got: ['after takeover'],
        first_got: [],
      });
    });

    test(`${v}: wrong password or unknown user: CONNACK refused with the right code`, async () => {
      const refused = version === 5 ? 0x86 : 4;
      assert.deepEqual(await py('auth', PORT, { version }), {
        wrong_password: refused,
        unknown_user: refused,
        right: 0,
      });
    });
  }

  test('v5: will delay (on a clock the script moves): after the delay; cancelled by a reconnect; at session end if sooner', async () => {
    assert.deepEqual(await pyClocked('will'), {
      delayed: ['marker', 'delayed'],
      expiry_first: 'session ended',
      cancelled: { session_present: true, first: 'marker' },
    });
  });

  test('v5: session expiry (on a clock the script moves): gone after its interval, or at once when DISCONNECT sets it to 0', async () => {
    const marker = { connack: [0, false], first: ['marker'] };
    assert.deepEqual(await pyClocked('expiry'), { after_interval: marker, disconnect_zero: marker });
  });

  test('v5: subscription options (no local, retain as published, retain handling) and identifiers', async () => {
    assert.deepEqual(await py('sub_options', PORT), {
      granted: Array(6).fill([1]),
      a: [
        // not 'own' (no local), not 'kept' (retain handling 2, then 1 on an existing subscription)
        ['nl', 'other', 0, null],
        ['rap', 'rap', 1, null],
        ['norap', 'norap', 0, null],
        ['id/x', 'with id', 0, [7]],
        ['nl', 'end', 0, null],
      ],
      c: [['kept', 1]],
    });
  });

  test('v5: Maximum Packet Size is respected; a silent client is dropped after 1.5 x keep alive, with its will (on a clock the script moves)', async () => {
    // The 2000-byte message exceeds the client's 512: dropped, not sent. The will comes after the
    // marker published while the client was still within its keep-alive.
    assert.deepEqual(await pyClocked('limits'), {
      sizes: [4, 3],
      first: 'fits',
      will: ['marker', 'timed out'],
    });
  });

  test('v5: topic aliases: set, used with an empty topic, remapped; invalid ones disconnect', async () => {
    const prefix = uniq('paho-alias');
    const base = `${prefix}/alias`;
    assert.deepEqual(await py('alias', PORT, {}, prefix), {
      maximum: 100,
      received: [
        [`${base}/a`, 'one'],
        [`${base}/a`, 'two'],
        [`${base}/b`, 'three'],
        [`${base}/b`, 'four'],
        [`${base}/c`, 'five'],
        [`${base}/c`, 'six'],
      ],
      // DISCONNECT 0x94 Topic Alias invalid; 0x82 Protocol Error (MQTT 5 section 3.3.2.3.4).
      errors: { above_maximum: 0x94, unknown: 0x82 },
    });
  });

  test('v5: request/response: response topic and correlation data (text and binary) round trip', async () => {
    const prefix = uniq('paho-rpc');
    const resp = `${prefix}/rpc/responses`;
    const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');
    const cds = [hex('c-1'), hex(Buffer.from([0x00, 0xff, 0xfe, ...Buffer.from(' binary')])), hex('c-3')];
    assert.deepEqual(await py('rpc', PORT, {}, prefix), {
      response_information: `reply/${prefix}-client/`,
      requests: cds.map((cd, i) => [`q${i}`, resp, cd]),
      replies: cds.map((cd, i) => [resp, `Q${i}`, cd]),
    });
  });
});
