/**
 * Interop with pika (Python): each scenario is a script under test/py/ run by the system Python
 * (/usr/bin/python3, which has python3-pika) against each target of interopTargets(). A script
 * prints one JSON object with what it observed, or exits non-zero with a trace.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { interopTargets, uniq } from './helpers.js';
import { run } from './interop-support.js';
import { PYTHON, skipUnless } from './support/tools.js';

const PY_DIR = join(dirname(fileURLToPath(import.meta.url)), 'py');

const targets = await interopTargets();
after(async () => {
  for (const t of targets) await t.stop();
});

/** Runs test/py/<name>.py against `url` with a unique name prefix; returns [prefix, parsed JSON]. */
async function py(name: string, url: string): Promise<[string, Record<string, unknown>]> {
  const prefix = uniq('py');
  const r = await run(PYTHON, [join(PY_DIR, `${name}.py`), url, prefix], {
    timeoutMs: 90_000, // a hang guard, above the scripts' own waits
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(r.code, 0, `${name}.py exited ${r.code}:\n${r.stderr}${r.stdout}`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  return [prefix, JSON.parse(line) as Record<string, unknown>];
}

const LOCKED_TAIL =
  '. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.';
const locked = (q: string) =>
  `RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '${q}' in vhost '/'${LOCKED_TAIL}`;

const skip = await skipUnless('python3-pika');

for (const target of targets) {
  // The scripts use distinct names, so they run concurrently (the heartbeat one sleeps 4.5 s).
  describe(`pika against ${target.name}`, { concurrency: true, skip: skip || target.skip }, () => {
    test('publish and consume with properties', async () => {
      const [, r] = await py('publish_consume', target.url);
      assert.deepEqual(r, {
        bodies: ['{"a":1}', 'two', ''],
        tags: [1, 2, 3],
        redelivered: [false, false, false],
        routing_keys: [true, true, true],
        props: {
          app_id: 'pika',
          content_encoding: 'utf-8',
          content_type: 'application/json',
          correlation_id: 'corr',
          delivery_mode: 2,
          expiration: '60000',
          headers: { n: 1, nested: { b: true }, s: 'x' },
          message_id: 'mid',
          priority: 4,
          reply_to: 'back',
          timestamp: 1700000000,
          type: 'kind',
          user_id: 'guest',
        },
      });
    });

    test('basic_get: empty, then messages with the remaining count', async () => {
      const [, r] = await py('basic_get', target.url);
      assert.deepEqual(r, {
        empty: [true, true, true],
        bodies: ['a', 'b'],
        message_counts: [1, 0],
        tags: [1, 2],
        redelivered: false,
        after_empty: true,
        left: 0,
      });
    });

    test('confirm_delivery: a mandatory unroutable publish raises UnroutableError', async () => {
      const [, r] = await py('confirm_mandatory', target.url);
      assert.deepEqual(r, {
        routed: 200,
        unroutable: {
          count: 1,
          reply_code: 312,
          reply_text: 'NO_ROUTE',
          exchange: true,
          routing_key: 'nowhere',
          body: 'lost',
        },
        channel_open: true,
      });
    });

    test('basic_nack with requeue: original order, redelivered', async () => {
      const [, r] = await py('nack_requeue', target.url);
      assert.deepEqual(r, {
        first: ['a', 'b', 'c'],
        first_redelivered: [false, false, false],
        again: ['a', 'b', 'c'],
        again_redelivered: [true, true, true],
        left: 0,
      });
    });

    test('tx_select, tx_commit and tx_rollback', async () => {
      const [, r] = await py('tx', target.url);
      assert.deepEqual(r, {
        before_commit: 0,
        after_commit: 2,
        after_rollback: 2,
        got: 'a',
        unacked_after_rollback: 1,
        remaining: ['b', null],
      });
    });

    test('headers exchange: x-match all and any', async () => {
      const [, r] = await py('headers_exchange', target.url);
      assert.deepEqual(r, { all: ['both'], any: ['both', 'format', 'pages'] });
    });

    test('exchange-to-exchange binding and unbinding', async () => {
      const [, r] = await py('exchange_bind', target.url);
      assert.deepEqual(r, { routed: ['logs.error', 'logs.a.b'], after_unbind: [] });
    });

    test('exclusive queue from another connection: ChannelClosedByBroker 405', async () => {
      const [prefix, r] = await py('exclusive', target.url);
      const named = `${prefix}-excl`;
      const serverNamed = r.server_named as string;
      assert.match(serverNamed, /^amq\.gen-/);
      assert.deepEqual(r, {
        server_named: serverNamed,
        declare: [405, locked(named)],
        passive: [405, locked(serverNamed)],
        consume: [405, locked(named)],
        get: [405, locked(named)],
        after_owner_closed: [404, `NOT_FOUND - no queue '${named}' in vhost '/'`],
      });
    });

    test('direct reply-to RPC', async () => {
      const [, r] = await py('rpc', target.url);
      assert.deepEqual(r, {
        replies: [
          ['c0', 'PING'],
          ['c1', 'PONG'],
        ],
        reply_to_prefix: true,
        one_address: true,
        probe: ['amq.rabbitmq.reply-to', 0, 1],
      });
    });

    test('heartbeat=1: serviced connection survives, neglected one is dropped', async () => {
      const [, r] = await py('heartbeat', target.url);
      assert.deepEqual(r, { negotiated: 1, slept: true, body: 'still here', neglected: 'StreamLostError' });
    });

    test('errors: reply codes and texts as pika reports them', async () => {
      const [prefix, r] = await py('errors', target.url);
      assert.deepEqual(r, {
        passive: [404, `NOT_FOUND - no queue '${prefix}-missing' in vhost '/'`],
        inequivalent: [
          406,
          `PRECONDITION_FAILED - inequivalent arg 'durable' for queue '${prefix}-ineq' in vhost '/': received 'true' but current is 'false'`,
        ],
        unknown_tag: [406, 'PRECONDITION_FAILED - unknown delivery tag 42'],
        confirm_then_tx: [406, 'PRECONDITION_FAILED - cannot switch from confirm to tx mode'],
        exchange_type: [503, "COMMAND_INVALID - unknown exchange type 'no-such-type'"],
        vhost: `ConnectionClosedByBroker: (530) 'NOT_ALLOWED - vhost ${prefix}-vhost not found'`,
        login:
          "ConnectionClosedByBroker: (403) 'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.'",
        closed_by_503: true,
      });
    });
  });
}
