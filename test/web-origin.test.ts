/**
 * Browsers and web origins (docs/security.md) through real sockets: WebSocket upgrades (/ws,
 * /mqtt, a gateway route) from a page of another origin are refused 403 before the handshake;
 * a Host the broker does not answer to is refused (DNS rebinding); writes and queue reads a
 * browser marks as cross-site are refused, while the same requests from a client that is not a
 * browser (no Origin) work, text/plain included.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { catalogUpstream, startUpstream } from './fixtures/gateway/upstream.js';
import { startTestBroker, type TestBroker, uniq } from './helpers.js';

const APP = 'http://app.example:3000';
const EVIL = 'http://evil.example';

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** Sends `request` as is and reads the status line, headers and (for a refusal) the body. */
function raw(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    const done = (): void => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.slice(0, end);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (status === 101) {
        s.destroy();
        return resolve({ status, head, body: '' });
      }
      const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? -1);
      const body = buf.slice(end + 4);
      if (len >= 0 && Buffer.byteLength(body) < len) return;
      s.destroy();
      resolve({ status, head, body });
    };
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      done();
    });
    s.on('end', () => {
      done();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0), head: buf, body: '' });
    });
    s.on('error', reject);
    s.write(request);
  });
}

function upgrade(port: number, path: string, headers: Record<string, string>, protocol?: string): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${headers.Host ?? `127.0.0.1:${port}`}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...(protocol === undefined ? [] : [`Sec-WebSocket-Protocol: ${protocol}`]),
    ...Object.entries(headers)
      .filter(([k]) => k !== 'Host')
      .map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function request(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    'Connection: close',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

describe('web origins: WebSocket upgrades', () => {
  let b: TestBroker;
  let port: number;
  before(async () => {
    b = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: [APP] } });
    port = b.server.http!.address.port;
  });
  after(() => b.close());

  for (const [path, protocol] of [
    ['/ws', 'switchyard.v1'],
    ['/mqtt', 'mqtt'],
  ] as const) {
    test(`web origins: ${path} from a page of another origin is 403 with a readable body`, async () => {
      const r = await raw(port, upgrade(port, path, { Origin: EVIL }, protocol));
      assert.equal(r.status, 403, r.head);
      const body = JSON.parse(r.body) as { code: string; message: string };
      assert.equal(body.code, 'ACCESS_REFUSED');
      assert.match(body.message, /evil\.example.*http\.corsOrigins/);
    });

    test(`web origins: ${path} with no Origin, the same origin (any scheme) or a listed one is upgraded`, async () => {
      for (const origin of [undefined, `http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, APP]) {
        const r = await raw(
          port,
          upgrade(port, path, origin === undefined ? {} : { Origin: origin }, protocol),
        );
        assert.equal(r.status, 101, `${origin}: ${r.head}`);
      }
    });

    test(`web origins: ${path}: same host on another port, and the 'null' origin, are other origins`, async () => {
      for (const origin of [`http://127.0.0.1:${port + 1}`, 'http://127.0.0.1', 'null']) {
        const r = await raw(port, upgrade(port, path, { Origin: origin }, protocol));
        assert.equal(r.status, 403, origin);
      }
    });
  }

  test("web origins: '*' in http.corsOrigins lets any page open a WebSocket", async () => {
    const any = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: ['*'] } });
    try {
      const p = any.server.http!.address.port;
      const r = await raw(p, upgrade(p, '/ws', { Origin: EVIL }, 'switchyard.v1'));
      assert.equal(r.status, 101);
    } finally {
      await any.close();
    }
  });
});

describe('web origins: Host (DNS rebinding)', () => {
  let b: TestBroker;
  let port: number;
  before(async () => {
    b = await startTestBroker({}, undefined, {
      http: { port: 0, allowedHosts: ['broker.example', '*.svc.example'] },
    });
    port = b.server.http!.address.port;
  });
  after(() => b.close());

  const publish = '/api/v1/vhosts/%2F/exchanges/amq.topic/publish?routingKey=host.test';

  test('web origins: a name the broker does not answer to is 403 on requests and upgrades', async () => {
    const r = await raw(port, request('POST', publish, { Host: `evil.example:${port}` }, 'x'));
    assert.equal(r.status, 403);
    assert.match(JSON.parse(r.body).message as string, /evil\.example.*http\.allowedHosts/);
    const u = await raw(port, upgrade(port, '/ws', { Host: `evil.example:${port}` }, 'switchyard.v1'));
    assert.equal(u.status, 403, u.head);
  });

  test('web origins: loopback names, IP addresses, listed names and subdomains are answered', async () => {
    for (const host of [
      `localhost:${port}`,
      `app.localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      `10.1.2.3:${port}`,
      `BROKER.example.:${port}`,
      `a.svc.example:${port}`,
    ]) {
      const r = await raw(port, request('POST', publish, { Host: host, 'content-type': 'text/plain' }, 'x'));
      assert.equal(r.status, 200, `${host}: ${r.head}${r.body}`);
    }
    const sub = await raw(port, request('POST', publish, { Host: `svc.example:${port}` }, 'x'));
    assert.equal(sub.status, 403, 'svc.example itself is not *.svc.example');
  });

  test('web origins: a rebinding page is same-origin for the browser but its Host is refused', async () => {
    // What a page of http://evil.example:PORT sends once evil.example resolves to 127.0.0.1.
    const origin = `http://evil.example:${port}`;
    const r = await raw(port, upgrade(port, '/ws', { Host: `evil.example:${port}`, Origin: origin }));
    assert.equal(r.status, 403);
  });
});

describe('web origins: cross-site writes and queue reads', () => {
  let b: TestBroker;
  let port: number;
  let base: string;
  before(async () => {
    b = await startTestBroker({}, undefined, { http: { port: 0, corsOrigins: [APP] } });
    port = b.server.http!.address.port;
    base = `http://127.0.0.1:${port}/api/v1/vhosts/%2F`;
    conn = await amqp.connect(b.url);
    ch = await conn.createChannel();
  });
  after(async () => {
    await conn.close();
    await b.close();
  });
  let conn: ChannelModel;
  let ch: Channel;

  /** A queue; publishes to the default exchange with its name as routing key reach it. */
  async function queueWithBinding(): Promise<{ q: string; key: string }> {
    const q = uniq('xs');
    await ch.assertQueue(q, { durable: false });
    return { q, key: q };
  }

  async function depth(q: string): Promise<number> {
    return (await ch.checkQueue(q)).messageCount;
  }

  test('web origins: a text/plain publish from a page of another site is 403 and publishes nothing', async () => {
    const { q, key } = await queueWithBinding();
    const r = await fetch(`${base}/exchanges/amq.default/publish?routingKey=${key}`, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'text/plain' },
      body: 'forged',
    });
    assert.equal(r.status, 403);
    const body = (await r.json()) as { code: string; message: string };
    assert.equal(body.code, 'ACCESS_REFUSED');
    assert.match(body.message, /cross-site/);
    const form = await fetch(`${base}/exchanges/amq.default/publish?routingKey=${key}`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=b',
    });
    assert.equal(form.status, 403, 'no Origin, but the browser says cross-site');
    assert.equal(await depth(q), 0);
  });

  test('web origins: the same publish from curl (no Origin), the own origin or a listed one works', async () => {
    const { q, key } = await queueWithBinding();
    for (const headers of [
      { 'content-type': 'text/plain' },
      { 'content-type': 'text/plain', origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
      { 'content-type': 'text/plain', origin: APP },
    ]) {
      const r = await fetch(`${base}/exchanges/amq.default/publish?routingKey=${key}`, {
        method: 'POST',
        headers,
        body: 'hello',
      });
      assert.equal(r.status, 200, await r.text());
    }
    assert.equal(await depth(q), 3);
  });

  test('web origins: an ack, a get and an SSE stream from another site are 403; the messages stay', async () => {
    const { q, key } = await queueWithBinding();
    await fetch(`${base}/exchanges/amq.default/publish?routingKey=${key}`, { method: 'POST', body: 'm' });
    const cross = { origin: EVIL };
    const get = await fetch(`${base}/queues/${q}/messages?ack=auto`, { method: 'POST', headers: cross });
    assert.equal(get.status, 403);
    const lease = await fetch(`${base}/queues/${q}/messages?ack=manual`, {
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(lease.status, 403, 'an <img> GET leasing messages');
    const events = await fetch(`${base}/queues/${q}/events`, { headers: cross });
    assert.equal(events.status, 403);
    const ack = await fetch(`${base}/queues/${q}/ack`, {
      method: 'POST',
      headers: { ...cross, 'content-type': 'text/plain' },
      body: '{"ids":["x-1"]}',
    });
    assert.equal(ack.status, 403);
    assert.equal(await depth(q), 1);
  });

  test('web origins: a cross-site write to another route of the listener (gRPC-Web, any path) is 403', async () => {
    const r = await fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'text/plain' },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    assert.equal(r.status, 403);
    assert.equal(((await r.json()) as { code: string }).code, 'ACCESS_REFUSED');
  });
});

describe('web origins: the gateway', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let b: TestBroker;
  let port: number;
  before(async () => {
    upstream = await startUpstream();
    b = await startTestBroker({}, undefined, {
      gateway: { upstreams: [catalogUpstream(upstream.address)] },
    });
    port = b.server.http!.address.port;
  });
  after(async () => {
    await b.close();
    await upstream.close();
  });

  test('web origins: a cross-site text/plain POST never reaches the upstream; curl does', async () => {
    const before = upstream.log.headers.length;
    const path = '/v1/items/w1:annotate';
    const forged = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'text/plain' },
      body: '{}',
    });
    assert.equal(forged.status, 403);
    assert.equal(upstream.log.headers.length, before);
    const curl = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{}',
    });
    assert.equal(curl.status, 200, await curl.text());
    assert.equal(upstream.log.headers.length, before + 1);
  });

  test('web origins: a gateway WebSocket route from another origin is 403', async () => {
    const paths = [...b.server.gateway!.upgrades().keys()];
    assert.ok(paths.length > 0);
    const r = await raw(port, upgrade(port, paths[0]!, { Origin: EVIL }));
    assert.equal(r.status, 403, r.head);
  });
});
