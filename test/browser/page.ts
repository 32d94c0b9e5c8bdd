/// <reference lib="dom" />
/**
 * Runs in headless Chromium (test/browser.test.ts): subscribes with the browser's own
 * EventSource and WebSocket, publishes with gRPC-Web (connect-web), and reports what arrived.
 */
import { createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { Broker } from '../../src/gen/switchyard/v1/broker_pb.js';

interface Outcome {
  routed: number;
  sse: { body: string; traceparent?: string };
  ws: { body: string; traceparent?: string };
}

/** `origin`: the broker's; the page's own unless the test checks cross-origin (CORS). */
async function run(
  key: string,
  body: string,
  traceparent: string,
  origin = location.origin,
): Promise<Outcome> {
  const es = new EventSource(
    `${origin}/api/v1/vhosts/%2F/exchanges/amq.topic/events?key=${encodeURIComponent(key)}`,
  );
  const sseReady = new Promise<void>((resolve, reject) => {
    es.onopen = () => resolve();
    es.onerror = () => reject(new Error('EventSource failed'));
  });
  const sseGot = new Promise<Outcome['sse']>((resolve) =>
    es.addEventListener('message', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data);
      resolve({ body: d.body, traceparent: d.traceparent });
    }),
  );
  const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/ws`, 'switchyard.v1');
  let subscribed: () => void = () => {};
  const wsReady = new Promise<void>((resolve) => (subscribed = resolve));
  const wsGot = new Promise<Outcome['ws']>((resolve, reject) => {
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data as string);
      if (f.op === 'subscribed') subscribed();
      else if (f.op === 'deliver') resolve({ body: f.body, traceparent: f.traceparent });
      else if (f.op === 'error') reject(new Error(`${f.code}: ${f.message}`));
    };
  });
  ws.onopen = () => ws.send(JSON.stringify({ op: 'subscribe', sub: 'b', exchange: 'amq.topic', key }));
  await Promise.all([sseReady, wsReady]);
  const client = createClient(Broker, createGrpcWebTransport({ baseUrl: origin }));
  const res = await client.publish(
    { exchange: 'amq.topic', routingKey: key, message: { body: new TextEncoder().encode(body) } },
    { headers: { traceparent } },
  );
  const [sse, wsd] = await Promise.all([sseGot, wsGot]);
  es.close();
  ws.close();
  return { routed: res.routedQueues, sse, ws: wsd };
}

(globalThis as unknown as { runScenario: typeof run }).runScenario = run;
