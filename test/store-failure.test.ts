/**
 * Disk full (issue 15): the free-space limit is at least the largest message any protocol takes,
 * and a store that failed for good (a message-log flush that hit ENOSPC) blocks publishers on
 * every protocol, turns every health endpoint unhealthy and says so in the log.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import amqp from 'amqplib';
import { configSchema } from '../src/config/schema.js';
import { Health, HealthCheckResponse_ServingStatus as Serving } from '../src/gen/grpc/health/v1/health_pb.js';
import { Broker } from '../src/gen/switchyard/v1/broker_pb.js';
import { effectiveDiskFreeLimit } from '../src/server/alarms.js';
import { hookedOpen } from '../src/store/log/test-util.js';
import { once, startTestBroker, uniq } from './helpers.js';

/** guest is an administrator: it may read /metrics. */
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

const MiB = 2 ** 20;

test('disk limit: at least the largest message of any protocol; 0 stays off', () => {
  const cfg = (store: object, more: object = {}) => configSchema.parse({ store, ...more });
  // The defaults: 50 MB configured, AMQP takes 128 MiB messages.
  assert.equal(effectiveDiskFreeLimit(cfg({})), 128 * MiB);
  assert.equal(effectiveDiskFreeLimit(cfg({ diskFreeLimit: 10 ** 9 })), 10 ** 9);
  assert.equal(
    effectiveDiskFreeLimit(
      cfg({ diskFreeLimit: 1000 }, { amqp: { maxMessageSize: 1024 }, mqtt: { maxPacketSize: 200 * MiB } }),
    ),
    200 * MiB,
    'MQTT packets are the largest here',
  );
  assert.equal(effectiveDiskFreeLimit(cfg({ diskFreeLimit: 0 })), 0);
});

test('disk limit: free space above the configured limit but below the largest message raises the alarm', async () => {
  const lines: string[] = [];
  let free = 100 * 10 ** 6; // over the configured 50 MB, under AMQP's 128 MiB message
  const b = await startTestBroker(
    {},
    undefined,
    {},
    {
      statfs: () => Promise.resolve({ bavail: free, bsize: 1 }),
      log: (l) => lines.push(l),
    },
  );
  try {
    assert.equal(await b.server.alarms.checkDisk(), true);
    assert.deepEqual([...b.server.broker.alarms], ['disk']);
    assert.match(lines.join(''), /disk alarm on: 95 MiB free < limit 128 MiB/);
    free = 200 * MiB;
    assert.equal(await b.server.alarms.checkDisk(), false);
    assert.deepEqual([...b.server.broker.alarms], []);
  } finally {
    await b.close();
  }
});

test('store failure: a failed flush blocks publishers for good and every health endpoint says unhealthy', async () => {
  let full = false;
  const lines: string[] = [];
  const b = await startTestBroker(
    {},
    undefined,
    { store: { diskFreeLimit: 0 } },
    {
      log: (l) => lines.push(l),
      messageLogOpenFile: hookedOpen({
        datasync: () =>
          full
            ? Promise.reject(
                Object.assign(new Error('ENOSPC: no space left on device, datasync'), { code: 'ENOSPC' }),
              )
            : Promise.resolve(),
      }),
    },
  );
  const http = `http://127.0.0.1:${b.server.http!.address.port}`;
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` });
  const grpc = createClient(Broker, transport);
  const health = createClient(Health, transport);
  // The publisher's connection is closed by the failed store (541); another one, which has not
  // published, hears connection.blocked.
  const conn = await amqp.connect(b.url);
  const watcher = await amqp.connect(b.url);
  const closed = new Promise<unknown>((resolve) => conn.on('error', resolve));
  try {
    assert.equal((await fetch(`${http}/health`)).status, 200);
    assert.equal((await health.check({ service: '' })).status, Serving.SERVING);
    const ch = await conn.createConfirmChannel();
    const q = uniq('full');
    await ch.assertQueue(q, { durable: true });
    const blocked = once<string>(watcher, 'blocked');

    full = true;
    // A persistent message to a durable queue must reach the disk: its flush fails.
    await assert.rejects(
      new Promise<void>((resolve, reject) =>
        ch.sendToQueue(q, Buffer.from('lost'), { persistent: true }, (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
    );
    assert.match(await blocked, /store/);
    assert.match(String(await closed), /541.*message store failed: ENOSPC/);
    assert.deepEqual([...b.server.broker.alarms], ['store']);
    assert.match(
      lines.join(''),
      /message log failed: ENOSPC: no space left on device.*publishers are blocked/,
    );

    const h = await fetch(`${http}/health`);
    assert.equal(h.status, 503);
    const body = (await h.json()) as { status: string; alarms: string[]; problems: string[] };
    assert.equal(body.status, 'unhealthy');
    assert.deepEqual(body.alarms, ['store']);
    assert.match(body.problems[0]!, /message log failed: ENOSPC/);
    assert.match(
      await (await fetch(`${http}/metrics`, { headers: { authorization: GUEST } })).text(),
      /^switchyard_healthy 0$/m,
    );
    assert.equal((await health.check({ service: '' })).status, Serving.NOT_SERVING);
    assert.equal((await health.check({ service: 'switchyard.v1.Broker' })).status, Serving.NOT_SERVING);
    const status = await grpc.brokerStatus({});
    assert.deepEqual([status.healthy, status.alarms], [false, ['store']]);
    const r = await fetch(`${http}/api/v1/vhosts/%2F/exchanges/amq.default/publish?routingKey=${q}`, {
      method: 'POST',
      body: 'x',
    });
    assert.equal(r.status, 503, 'HTTP publishers are refused');
    assert.ok(r.headers.get('retry-after') !== null);

    // It stays: the other alarms going off does not clear it.
    b.server.broker.setAlarm('disk', true);
    b.server.broker.setAlarm('disk', false);
    assert.deepEqual([...b.server.broker.alarms], ['store']);
  } finally {
    await watcher.close();
    await b.close();
  }
});
