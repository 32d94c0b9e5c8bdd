/**
 * The Order/Inventory example (examples/order-inventory) end to end on ephemeral ports: orders
 * placed through the gateway's REST/JSON and over native gRPC take stock and reach AMQP and MQTT
 * subscribers as `order.placed`; stock is never negative; WatchStock streams changes over SSE and
 * gRPC; and a Python grpcio client (no stubs) calls the Inventory service directly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Code, type ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createConnectTransport, createGrpcWebTransport } from '@connectrpc/connect-web';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { Inventory } from '../src/gen/inventory/v1/inventory_pb.js';
import { Orders } from '../examples/order-inventory/gen/orders/v1/orders_pb.js';
import {
  type OrderPlacedEvent,
  RETRY_POLICY,
  startOrdersService,
} from '../examples/order-inventory/orders-service.js';
import { startExample } from '../examples/order-inventory/run.js';
import { Inbox, run, within } from './interop-support.js';
import { PYTHON, skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

const logs: string[] = [];
const ex = await startExample(
  { http: 0, amqp: 0, mqtt: 0, grpc: 0, inventory: 0, orders: 0 },
  // More widgets than the README's ten: every test here takes some.
  { log: (line) => logs.push(line), seed: { widget: 1000, gadget: 3, gizmo: 0 } },
);
after(() => ex.close());

const inventory = createClient(Inventory, createGrpcTransport({ baseUrl: ex.inventory.url }));
const orders = createClient(Orders, createGrpcTransport({ baseUrl: ex.orders.url }));

/** An AMQP queue bound to order.placed on amq.topic, and an MQTT subscription to order/placed. */
async function eventSubscribers() {
  const conn = await amqp.connect(ex.amqpUrl);
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'amq.topic', 'order.placed');
  const inbox = await Inbox.consume(ch, queue, { noAck: true });
  const client = await mqtt.connectAsync(ex.mqttUrl, { protocolVersion: 5 });
  const mqttMessages: { topic: string; body: string }[] = [];
  const mqttArrived = new Promise<void>((resolve) =>
    client.on('message', (topic, body) => {
      mqttMessages.push({ topic, body: body.toString() });
      resolve();
    }),
  );
  await client.subscribeAsync('order/placed', { qos: 1 });
  return {
    inbox,
    mqttMessages,
    mqttArrived,
    close: async () => {
      await client.endAsync();
      await conn.close();
    },
  };
}

test('example: PlaceOrder over gRPC takes stock, and AMQP and MQTT subscribers see order.placed', async () => {
  const subs = await eventSubscribers();
  try {
    const before = (await inventory.getStock({ sku: 'widget' })).quantity;
    const order = await orders.placeOrder({ sku: 'widget', quantity: 2, customer: 'ada' });
    assert.equal(order.remainingStock, before - 2);
    assert.equal((await inventory.getStock({ sku: 'widget' })).quantity, before - 2);

    const [m] = await subs.inbox.take(1);
    const event = JSON.parse(m!.content.toString()) as OrderPlacedEvent;
    assert.deepEqual(
      { id: event.id, sku: event.sku, quantity: event.quantity, customer: event.customer },
      { id: order.id, sku: 'widget', quantity: 2, customer: 'ada' },
    );
    assert.equal(event.remainingStock, before - 2);
    assert.equal(m!.properties.contentType, 'application/json');
    assert.equal(m!.properties.messageId, order.id);

    await within(subs.mqttArrived, WAIT_MS, 'order/placed over MQTT');
    assert.equal(subs.mqttMessages[0]!.topic, 'order/placed');
    assert.equal((JSON.parse(subs.mqttMessages[0]!.body) as OrderPlacedEvent).id, order.id);
  } finally {
    await subs.close();
  }
});

test('example: an order beyond the stock fails FAILED_PRECONDITION, leaves stock and publishes nothing', async () => {
  const subs = await eventSubscribers();
  try {
    const before = (await inventory.getStock({ sku: 'gadget' })).quantity;
    await assert.rejects(
      orders.placeOrder({ sku: 'gadget', quantity: before + 1, customer: 'bob' }),
      (e: ConnectError) => e.code === Code.FailedPrecondition && /in stock/.test(e.rawMessage),
    );
    await assert.rejects(
      orders.placeOrder({ sku: 'nope', quantity: 1, customer: 'bob' }),
      (e: ConnectError) => e.code === Code.NotFound,
    );
    await assert.rejects(
      orders.placeOrder({ sku: 'gadget', quantity: 0, customer: 'bob' }),
      (e: ConnectError) => e.code === Code.InvalidArgument,
    );
    assert.equal((await inventory.getStock({ sku: 'gadget' })).quantity, before);
    await subs.inbox.settlesAt(0);
  } finally {
    await subs.close();
  }
});

test('example: WatchStock streams the current level, then each change', async () => {
  const ac = new AbortController();
  const stream = inventory.watchStock({ sku: 'widget' }, { signal: ac.signal })[Symbol.asyncIterator]();
  const first = await stream.next();
  const level = first.value!.quantity;
  await orders.placeOrder({ sku: 'widget', quantity: 1, customer: 'cy' });
  const change = await stream.next();
  assert.deepEqual(
    { sku: change.value!.sku, quantity: change.value!.quantity },
    { sku: 'widget', quantity: level - 1 },
  );
  ac.abort();
});

test('example: the Order service logs and counts its downstream calls', async () => {
  await orders.placeOrder({ sku: 'widget', quantity: 1, customer: 'dee' });
  const entries = logs.map((l) => JSON.parse(l) as { method: string; code: string });
  assert.ok(entries.some((e) => e.method === 'inventory.v1.Inventory/UpdateStock' && e.code === 'OK'));
  assert.ok(entries.some((e) => e.method === 'switchyard.v1.Broker/Publish' && e.code === 'OK'));
  const stats = ex.orders.metrics.snapshot();
  assert.ok((stats.find((s) => s.method === 'inventory.v1.Inventory/UpdateStock')?.calls.OK ?? 0) >= 1);
  assert.match(
    ex.orders.metrics.prometheus(),
    /grpc_client_handled_total\{service="orders",grpc_service="inventory.v1.Inventory",grpc_method="UpdateStock",grpc_code="OK"\} \d+/,
  );
});

test('example: with Inventory down, PlaceOrder fails UNAVAILABLE after its retries, logged as one call', async () => {
  // A port nobody listens on (taken, then released): every attempt is refused, UNAVAILABLE.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const deadPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const retries: number[] = [];
  const entries: { method: string; code: string }[] = [];
  const lonely = await startOrdersService({
    inventoryUrl: `http://127.0.0.1:${deadPort}`,
    brokerGrpcUrl: 'http://127.0.0.1:1',
    brokerCredentials: { user: 'guest', password: 'guest' },
    log: (e) => entries.push(e),
    onRetry: (r) => retries.push(r.attempt),
  });
  try {
    const client = createClient(Orders, createGrpcTransport({ baseUrl: lonely.url }));
    await assert.rejects(
      client.placeOrder({ sku: 'widget', quantity: 1, customer: 'ivy' }),
      (e: ConnectError) => e.code === Code.Unavailable,
    );
    assert.deepEqual(
      entries.map((e) => [e.method, e.code]),
      [['inventory.v1.Inventory/UpdateStock', 'UNAVAILABLE']],
    );
    assert.deepEqual(retries, [2, 3, 4].slice(0, RETRY_POLICY.maxAttempts - 1));
  } finally {
    await lonely.close();
  }
});

test('example: Python grpcio calls the Inventory service directly', {
  skip: await skipUnless('python3-grpcio'),
}, async () => {
  const addr = new URL(ex.inventory.url).host;
  const r = await run(PYTHON, [join(ROOT, 'test/py/inventory_client.py'), addr], {
    timeoutMs: 60_000,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  });
  assert.equal(r.code, 0, `inventory_client.py exited ${r.code}:\n${r.stderr}${r.stdout}`);
  type Reply = { ok?: Record<string, string | number>; code?: string; details?: string };
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, Reply>;
  const before = out.before!.ok!['2'] as number;
  assert.equal(out.before!.ok!['1'], 'widget');
  assert.deepEqual(out.update, { ok: { '1': 'widget', '2': before - 3 } });
  // The same idempotency key: the first result again, the stock taken once.
  assert.deepEqual(out.update_again, out.update);
  assert.deepEqual(out.after, { ok: { '1': 'widget', '2': before - 3 } });
  assert.equal(out.too_many!.code, 'FAILED_PRECONDITION');
  assert.match(out.too_many!.details!, /only \d+ of widget in stock, 1000 requested/);
  assert.equal(out.negative!.code, 'INVALID_ARGUMENT');
  assert.equal(out.unknown!.code, 'NOT_FOUND');
});

// Through the gateway on the broker's HTTP port: what the README's curl lines do.

test('example gateway: POST /v1/orders places an order, GET /v1/stock/{sku} shows it, AMQP sees it', async () => {
  const subs = await eventSubscribers();
  try {
    const before = await fetchJson(`${ex.httpUrl}/v1/stock/widget`);
    assert.equal(before.status, 200);
    const level = Number((before.body as { quantity?: number }).quantity ?? 0);
    const placed = await fetchJson(`${ex.httpUrl}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sku: 'widget', quantity: 1, customer: 'eve' }),
    });
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    const order = placed.body as { id: string; remainingStock: number; customer: string };
    assert.equal(order.remainingStock, level - 1);
    assert.equal(order.customer, 'eve');
    const afterward = await fetchJson(`${ex.httpUrl}/v1/stock/widget`);
    assert.deepEqual(afterward.body, { sku: 'widget', quantity: level - 1 });
    const [m] = await subs.inbox.take(1);
    assert.equal((JSON.parse(m!.content.toString()) as OrderPlacedEvent).id, order.id);
  } finally {
    await subs.close();
  }
});

test('example gateway: an order beyond the stock is 400, an unknown SKU 404, bad JSON 400', async () => {
  const post = (body: string) =>
    fetchJson(`${ex.httpUrl}/v1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
  const tooMany = await post(JSON.stringify({ sku: 'gadget', quantity: 1000, customer: 'f' }));
  assert.equal(tooMany.status, 400);
  assert.match(String((tooMany.body as { message?: string }).message), /in stock/);
  assert.equal((await fetchJson(`${ex.httpUrl}/v1/stock/no-such-sku`)).status, 404);
  assert.equal((await post('{"sku": "gadget", "quantity": "many"}')).status, 400);
  assert.equal((await post('{not json')).status, 400);
});

test('example gateway: watching stock over SSE sees an order placed meanwhile', async () => {
  const ac = new AbortController();
  try {
    const res = await fetch(`${ex.httpUrl}/v1/stock:watch?sku=widget`, {
      headers: { accept: 'text/event-stream' },
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = sseData(res.body!);
    const first = (await events.next()).value as { sku: string; quantity: number };
    assert.equal(first.sku, 'widget');
    await orders.placeOrder({ sku: 'widget', quantity: 1, customer: 'gil' });
    const change = (await events.next()).value as { sku: string; quantity: number };
    assert.deepEqual(change, { sku: 'widget', quantity: first.quantity - 1 });
  } finally {
    ac.abort();
  }
});

test('example gateway: browsers reach the services with Connect and gRPC-Web on the HTTP port', async () => {
  for (const transport of [
    createConnectTransport({ baseUrl: ex.httpUrl }),
    createGrpcWebTransport({ baseUrl: ex.httpUrl }),
  ]) {
    const web = createClient(Inventory, transport);
    const level = await web.getStock({ sku: 'gadget' });
    assert.equal(level.sku, 'gadget');
    await assert.rejects(web.getStock({ sku: 'no-such-sku' }), (e: ConnectError) => e.code === Code.NotFound);
    const order = await createClient(Orders, transport).placeOrder({
      sku: 'widget',
      quantity: 1,
      customer: 'hal',
    });
    assert.equal(order.sku, 'widget');
  }
});

test('example: the runner (npm run example:orders) starts on the ports it is given and stops on SIGINT', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const p of ['HTTP', 'AMQP', 'MQTT', 'GRPC', 'INVENTORY', 'ORDERS']) env[`EXAMPLE_${p}_PORT`] = '0';
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/order-inventory/run.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  try {
    const lines: string[] = [];
    const ready = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (l) => {
        lines.push(l);
        if (l.startsWith('Ctrl-C')) resolve();
      });
    });
    await within(
      Promise.race([ready, exited.then(() => assert.fail(lines.join('\n')))]),
      90_000, // a hang guard: starting tsx and three servers is slow on a busy machine
      'the runner',
    );
    const gateway = /gateway \(REST\/JSON\) (\S+)/.exec(lines.join('\n'))?.[1];
    assert.ok(gateway, lines.join('\n'));
    assert.deepEqual((await fetchJson(`${gateway}/v1/stock/gizmo`)).body, { sku: 'gizmo', quantity: 0 });
    child.kill('SIGINT');
    const [code] = await within(exited, WAIT_MS, 'the runner to exit');
    assert.equal(code, 0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

async function fetchJson(url: string, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Left as text: the assertion that reads it will say what came back.
  }
  return { status: res.status, body };
}

/** The JSON payload of each `data:` event of a text/event-stream body (bounded per event). */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    if (buffered.length > 1 << 20) throw new Error('an SSE event over 1 MiB');
    for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const data = event
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n');
      if (data !== '') yield JSON.parse(data);
    }
  }
}
