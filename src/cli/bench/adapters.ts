/**
 * One adapter per protocol: a publisher, a subscriber and an idle connection, each on its own
 * connection, all through amq.topic with a dotted routing key (MQTT: the same key with '/').
 * Every adapter publishes and consumes in its own protocol, so any broker speaking it fits.
 */
import { once } from 'node:events';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import {
  authHeader,
  openHttp2,
  openSessionStream,
  PUBLISH_METHOD,
  sessionPublishFrame,
  subscribeSession,
  unaryCall,
  unaryPublishFrame,
  onGrpcMessages,
} from './grpc-wire.js';
import type { MessagingProtocol, TargetUrls } from './options.js';

export interface Publisher {
  /** false: wait for drain() before sending more. */
  send(body: Buffer): boolean;
  drain(): Promise<void>;
  close(): Promise<void>;
}

export interface Closable {
  close(): Promise<void>;
}

export interface Adapter {
  /** The listener this protocol needs. */
  readonly listener: keyof TargetUrls;
  readonly label: string;
  /** Whether the persistent form exists (durable queue + persistent messages + confirms / QoS 1). */
  readonly persistable: boolean;
  subscribe(url: URL, key: string, onBody: (b: Buffer) => void, persistent: boolean): Promise<Closable>;
  publisher(url: URL, key: string, persistent: boolean): Promise<Publisher>;
  idle(url: URL): Promise<Closable>;
}

const EXCHANGE = 'amq.topic';
/** Unconfirmed publishes a persistent or acknowledged publisher keeps in flight. */
const CONFIRM_WINDOW = 256;

/** A latch for "wake the sender when the window has room". */
/** A cleanup or send that failed: reported on stderr, the run goes on (the figures count what arrived). */
export function reportFailure(what: string): (e: unknown) => void {
  return (e) =>
    process.stderr.write(`switchyard bench: ${what} failed: ${(e as Error).message ?? String(e)}\n`);
}

export function waiter() {
  let wake: (() => void) | null = null;
  return {
    wait: () => new Promise<void>((r) => (wake = r)),
    notify: () => {
      if (wake !== null) {
        const w = wake;
        wake = null;
        w();
      }
    },
  };
}

// ---------------------------------------------------------------- AMQP

const amqpAdapter: Adapter = {
  listener: 'amqp',
  label: 'AMQP 0-9-1',
  persistable: true,
  async subscribe(url, key, onBody, persistent) {
    const conn = await amqp.connect(url.href, { noDelay: true });
    const ch = await conn.createChannel();
    const queue = persistent
      ? (await ch.assertQueue(`bench.q.${key}`, { durable: true, autoDelete: false })).queue
      : (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(queue, EXCHANGE, key);
    if (persistent) {
      await ch.prefetch(1000);
      await ch.consume(queue, (m) => {
        if (m === null) return;
        onBody(m.content);
        ch.ack(m);
      });
    } else await ch.consume(queue, (m) => m && onBody(m.content), { noAck: true });
    return {
      close: async () => {
        if (persistent) await ch.deleteQueue(queue).catch(reportFailure(`deleting queue ${queue}`));
        await conn.close();
      },
    };
  },
  async publisher(url, key, persistent) {
    const conn = await amqp.connect(url.href, { noDelay: true });
    if (!persistent) {
      const ch = await conn.createChannel();
      return {
        send: (body) => ch.publish(EXCHANGE, key, body),
        drain: async () => {
          await once(ch, 'drain');
        },
        close: () => conn.close(),
      };
    }
    const ch = await conn.createConfirmChannel();
    let unconfirmed = 0;
    const room = waiter();
    const confirmed = () => {
      unconfirmed--;
      if (unconfirmed < CONFIRM_WINDOW / 2) room.notify();
    };
    return {
      send: (body) => {
        unconfirmed++;
        const ok = ch.publish(EXCHANGE, key, body, { persistent: true }, confirmed);
        return ok && unconfirmed < CONFIRM_WINDOW;
      },
      drain: () => (unconfirmed < CONFIRM_WINDOW ? Promise.resolve() : room.wait()),
      close: () => conn.close(),
    };
  },
  async idle(url) {
    const conn = await amqp.connect(url.href);
    await conn.createChannel();
    return { close: () => conn.close() };
  },
};

// ---------------------------------------------------------------- MQTT

let clientSeq = 0;
const clientId = (role: string) => `bench-${role}-${process.pid}-${clientSeq++}`;

function mqttAdapter(qos: 0 | 1 | 2): Adapter {
  return {
    listener: 'mqtt',
    label: `MQTT 3.1.1 QoS ${qos}`,
    persistable: qos === 1,
    async subscribe(url, key, onBody, persistent) {
      // Persistent: a session the broker keeps (clean = false) and QoS 1, MQTT's durable form.
      const c = await mqtt.connectAsync(url.href, {
        protocolVersion: 4,
        clean: !persistent,
        clientId: clientId('sub'),
        reconnectPeriod: 0,
      });
      (c.stream as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      c.on('message', (_t, payload) => onBody(payload));
      const topic = key.replaceAll('.', '/');
      await c.subscribeAsync(topic, { qos });
      return {
        close: async () => {
          if (persistent) await c.unsubscribeAsync(topic).catch(reportFailure(`unsubscribing from ${topic}`));
          await c.endAsync();
        },
      };
    },
    async publisher(url, key) {
      const c = await mqtt.connectAsync(url.href, {
        protocolVersion: 4,
        clean: true,
        clientId: clientId('pub'),
        reconnectPeriod: 0,
      });
      (c.stream as { setNoDelay?: (b: boolean) => void }).setNoDelay?.(true);
      const topic = key.replaceAll('.', '/');
      let inFlight = 0;
      const room = waiter();
      const done = () => {
        inFlight--;
        if (inFlight < CONFIRM_WINDOW / 2) room.notify();
      };
      return {
        send: (body) => {
          if (qos === 0) c.publish(topic, body, { qos });
          else {
            inFlight++;
            c.publish(topic, body, { qos }, done);
          }
          return !c.stream.writableNeedDrain && inFlight < CONFIRM_WINDOW;
        },
        drain: async () => {
          if (c.stream.writableNeedDrain) await once(c.stream, 'drain');
          if (inFlight >= CONFIRM_WINDOW) await room.wait();
        },
        close: async () => {
          await c.endAsync();
        },
      };
    },
    async idle(url) {
      const c = await mqtt.connectAsync(url.href, {
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        clientId: clientId('idle'),
        reconnectPeriod: 0,
      });
      return {
        close: async () => {
          await c.endAsync();
        },
      };
    },
  };
}

// ---------------------------------------------------------------- gRPC

const grpcSessionAdapter: Adapter = {
  listener: 'grpc',
  label: 'gRPC Session (bidi stream)',
  persistable: false,
  async subscribe(url, key, onBody) {
    const session = await openHttp2(url);
    const stream = await subscribeSession(session, authHeader(url), key, onBody);
    return {
      close: async () => {
        stream.end();
        session.close();
      },
    };
  },
  async publisher(url, key) {
    const session = await openHttp2(url);
    const stream = openSessionStream(session, authHeader(url));
    // Every publish on a Session is answered: a confirm or an error naming it.
    let owed = 0;
    const room = waiter();
    onGrpcMessages(stream, () => {
      owed--;
      if (owed < CONFIRM_WINDOW * 2) room.notify();
    });
    let id = 0;
    return {
      send: (body) => {
        owed++;
        const ok = stream.write(sessionPublishFrame(++id, EXCHANGE, key, body));
        return ok && owed < CONFIRM_WINDOW * 4;
      },
      drain: async () => {
        if (stream.writableNeedDrain) await once(stream, 'drain');
        if (owed >= CONFIRM_WINDOW * 4) await room.wait();
      },
      close: async () => {
        stream.end();
        session.close();
      },
    };
  },
  async idle(url) {
    const session = await openHttp2(url);
    const stream = openSessionStream(session, authHeader(url));
    return {
      close: async () => {
        stream.close();
        session.close();
      },
    };
  },
};

/** Unary Publish calls (up to 64 in flight on one HTTP/2 connection); consumed through a Session. */
const grpcUnaryAdapter: Adapter = {
  ...grpcSessionAdapter,
  label: 'gRPC unary Publish',
  async publisher(url, key) {
    const session = await openHttp2(url);
    const auth = authHeader(url);
    let inFlight = 0;
    const room = waiter();
    return {
      send: (body) => {
        inFlight++;
        unaryCall(session, PUBLISH_METHOD, auth, unaryPublishFrame(EXCHANGE, key, body))
          .catch(reportFailure('a unary gRPC Publish'))
          .finally(() => {
            inFlight--;
            if (inFlight < 32) room.notify();
          });
        return inFlight < 64;
      },
      drain: () => (inFlight < 64 ? Promise.resolve() : room.wait()),
      close: async () => {
        session.close();
      },
    };
  },
};

// ---------------------------------------------------------------- native WebSocket

async function openWs(url: URL): Promise<WebSocket> {
  const headers: Record<string, string> = {};
  if (url.username !== '') headers.authorization = authHeader(url);
  const tls = url.protocol === 'https:' || url.protocol === 'wss:';
  const ws = new WebSocket(`${tls ? 'wss' : 'ws'}://${url.host}/ws`, 'switchyard.v1', { headers });
  ws.on('error', () => {});
  await once(ws, 'open');
  return ws;
}

/**
 * binary: publishes and deliveries in the binary frame form (docs/websocket-protocol.md section 5);
 * otherwise JSON text frames with the body as a string (the bench's bodies are ASCII).
 */
function wsAdapter(binary: boolean): Adapter {
  return {
    listener: 'http',
    label: `WebSocket (${binary ? 'binary' : 'JSON'} frames)`,
    persistable: false,
    async subscribe(url, key, onBody) {
      const ws = await openWs(url);
      const subscribed = new Promise<void>((resolve, reject) => {
        ws.on('message', (data: Buffer, isBinary) => {
          // Binary delivery: 1 byte type, 4 bytes header length, JSON header, then the body.
          if (isBinary) {
            onBody(data.subarray(5 + data.readUInt32BE(1)));
            return;
          }
          const f = JSON.parse(data.toString()) as {
            op: string;
            code?: string;
            message?: string;
            body?: string;
            bodyEncoding?: string;
          };
          if (f.op === 'deliver')
            onBody(Buffer.from(f.body ?? '', f.bodyEncoding === 'base64' ? 'base64' : 'utf8'));
          else if (f.op === 'subscribed') resolve();
          else if (f.op === 'error') reject(new Error(`ws: ${f.code}: ${f.message}`));
        });
      });
      ws.send(JSON.stringify({ op: 'subscribe', sub: 's', exchange: EXCHANGE, key, binary }));
      await subscribed;
      return {
        close: async () => {
          ws.close();
        },
      };
    },
    async publisher(url, key) {
      const ws = await openWs(url);
      const header = Buffer.from(JSON.stringify({ exchange: EXCHANGE, routingKey: key }));
      const prefix = Buffer.alloc(5 + header.length);
      prefix[0] = 0x01;
      prefix.writeUInt32BE(header.length, 1);
      header.copy(prefix, 5);
      const jsonHead = `{"op":"publish","exchange":"${EXCHANGE}","routingKey":${JSON.stringify(key)},"body":`;
      return {
        send: (body) => {
          if (binary) ws.send(Buffer.concat([prefix, body]), { binary: true });
          else ws.send(`${jsonHead}${JSON.stringify(body.toString('utf8'))}}`);
          return ws.bufferedAmount < 1 << 20;
        },
        drain: async () => {
          // ws has no drain event of its own; its buffer empties within a few ms.
          for (let i = 0; i < 1000 && ws.bufferedAmount >= 1 << 19; i++) await sleep(1);
        },
        close: async () => {
          ws.close();
        },
      };
    },
    async idle(url) {
      const ws = await openWs(url);
      return {
        close: async () => {
          ws.close();
        },
      };
    },
  };
}

// ---------------------------------------------------------------- HTTP publish + SSE

function sseRequest(url: URL, key: string, onEvent: (data: string) => void): Promise<IncomingMessage> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (url.username !== '') headers.authorization = authHeader(url);
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    path: `/api/v1/vhosts/%2F/exchanges/${EXCHANGE}/events?key=${encodeURIComponent(key)}`,
    headers,
  });
  req.on('error', () => {});
  req.end();
  return once(req, 'response').then((args) => {
    const res = args[0] as IncomingMessage;
    if (res.statusCode !== 200) throw new Error(`SSE: HTTP ${res.statusCode}`);
    res.setEncoding('utf8');
    let pending = '';
    res.on('data', (chunk: string) => {
      pending += chunk;
      let i = pending.indexOf('\n\n');
      while (i >= 0) {
        for (const line of pending.slice(0, i).split('\n'))
          if (line.startsWith('data:')) onEvent(line.slice(5));
        pending = pending.slice(i + 2);
        i = pending.indexOf('\n\n');
      }
    });
    return res;
  });
}

const httpSseAdapter: Adapter = {
  listener: 'http',
  label: 'HTTP POST + SSE',
  persistable: false,
  async subscribe(url, key, onBody) {
    const res = await sseRequest(url, key, (data) => {
      const d = JSON.parse(data) as { body: string; bodyEncoding?: string };
      onBody(Buffer.from(d.body, d.bodyEncoding === 'base64' ? 'base64' : 'utf8'));
    });
    return {
      close: async () => {
        res.destroy();
      },
    };
  },
  async publisher(url, key) {
    const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
    const path = `/api/v1/vhosts/%2F/exchanges/${EXCHANGE}/publish?routingKey=${encodeURIComponent(key)}`;
    const auth = url.username === '' ? null : authHeader(url);
    let inFlight = 0;
    const room = waiter();
    return {
      send: (body) => {
        inFlight++;
        const headers: Record<string, string | number> = {
          'content-type': 'text/plain',
          'content-length': body.length,
        };
        if (auth !== null) headers.authorization = auth;
        const req = httpRequest(
          { host: url.hostname, port: url.port, path, method: 'POST', agent, headers },
          (r) => {
            r.resume();
            r.on('end', () => {
              inFlight--;
              if (inFlight < 32) room.notify();
            });
          },
        );
        req.on('error', () => {
          inFlight--;
          room.notify();
        });
        req.end(body);
        return inFlight < 64;
      },
      drain: () => (inFlight < 32 ? Promise.resolve() : room.wait()),
      close: async () => {
        agent.destroy();
      },
    };
  },
  async idle(url) {
    const res = await sseRequest(url, `bench.idle.${process.pid}`, () => {});
    return {
      close: async () => {
        res.destroy();
      },
    };
  },
};

export const ADAPTERS: Record<MessagingProtocol, Adapter> = {
  amqp: amqpAdapter,
  'mqtt-qos0': mqttAdapter(0),
  'mqtt-qos1': mqttAdapter(1),
  'mqtt-qos2': mqttAdapter(2),
  'grpc-session': grpcSessionAdapter,
  'grpc-unary': grpcUnaryAdapter,
  ws: wsAdapter(true),
  'ws-json': wsAdapter(false),
  'http-sse': httpSseAdapter,
};
