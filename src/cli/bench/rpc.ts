/**
 * Request/response: Inventory.UpdateStock (./inventory) as native gRPC straight to
 * the service, and as REST/JSON through Switchyard's gateway, which calls the service over gRPC.
 * The REST path has one more hop: the difference is what a client choosing REST pays.
 */
import type { ClientHttp2Session } from 'node:http2';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { grpcFrame, openHttp2, unaryCall } from './grpc-wire.js';
import { LatencyRecorder } from './histogram.js';
import { cpuSpan, ownCpuSpan, rssKib } from './proc.js';
import { countingProxy } from './proxy.js';
import type { ResultRow } from './schema.js';
import { RPC_SKU } from './servers.js';

export type RpcProtocol = 'rpc-grpc' | 'rpc-rest';

interface Caller {
  call(): Promise<void>;
  close(): void;
}

const REST_BODY = JSON.stringify({ quantity: 1 });
/** OrderItem{sku = 1, quantity = 2: 1}. */
const GRPC_REQUEST = grpcFrame(
  Buffer.concat([Buffer.from([0x0a, RPC_SKU.length]), Buffer.from(RPC_SKU), Buffer.from([0x10, 0x01])]),
);

function restCaller(url: URL): Caller {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  const call = () =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          agent,
          method: 'POST',
          path: `/v1/stock/${RPC_SKU}:update`,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REST_BODY) },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(REST_BODY);
    });
  return { call, close: () => agent.destroy() };
}

async function grpcCaller(url: URL): Promise<Caller> {
  const session: ClientHttp2Session = await openHttp2(url);
  return {
    call: () => unaryCall(session, '/inventory.v1.Inventory/UpdateStock', null, GRPC_REQUEST),
    close: () => session.close(),
  };
}

const open = (protocol: RpcProtocol, url: URL) =>
  protocol === 'rpc-rest' ? Promise.resolve(restCaller(url)) : grpcCaller(url);

export interface RpcContext {
  readonly url: URL;
  /** The processes on the call's path: CPU per call is theirs together. */
  readonly serverPids: readonly number[];
  readonly brokerPid: number | null;
  readonly concurrency: number;
  readonly durationS: number;
  readonly quick: boolean;
  /** Multiplies the bound of the wire phase (PhaseContext.patience). */
  readonly patience: number;
}

export async function rpcRow(protocol: RpcProtocol, ctx: RpcContext): Promise<ResultRow> {
  const caller = await open(protocol, ctx.url);
  const rec = new LatencyRecorder();
  let errors = 0;
  try {
    // Warm-up: JIT, connections, the gateway's upstream channel.
    for (let i = 0; i < 50; i++) await caller.call();
    const servers = cpuSpan(ctx.serverPids);
    const client = ownCpuSpan();
    const t0 = performance.now();
    const end = t0 + ctx.durationS * 1000;
    const worker = async () => {
      while (performance.now() < end) {
        const s = performance.now();
        try {
          await caller.call();
          rec.record(performance.now() - s);
        } catch {
          errors++;
          // A failing path would spin: each failure costs a pause.
          await sleep(10);
        }
      }
    };
    await Promise.all(Array.from({ length: ctx.concurrency }, worker));
    const elapsedS = (performance.now() - t0) / 1000;
    const serverCpu = servers();
    const clientCpu = client();
    const calls = rec.count;
    const p = rec.percentiles();
    const row: ResultRow = {
      type: 'result',
      scenario: 'rpc',
      protocol,
      size: protocol === 'rpc-rest' ? Buffer.byteLength(REST_BODY) : GRPC_REQUEST.length - 5,
      persistent: false,
      concurrency: ctx.concurrency,
      msgs_per_s: Math.round(calls / elapsedS),
      errors,
    };
    if (p !== null) {
      const us = (ms: number) => Math.round(ms * 1000);
      row.latency_us = { p50: us(p.p50), p90: us(p.p90), p99: us(p.p99), p999: us(p.p999), max: us(p.max) };
    }
    if (calls > 0) {
      if (serverCpu !== null) row.broker_cpu_us_per_msg = Math.round((serverCpu / calls) * 10) / 10;
      row.client_cpu_us_per_msg = Math.round((clientCpu / calls) * 10) / 10;
    }
    const rss = ctx.brokerPid === null ? null : rssKib(ctx.brokerPid);
    if (rss !== null) row.broker_rss_mib = Math.round(rss / 102.4) / 10;
    const wire = await wirePerCall(protocol, ctx);
    if (wire !== undefined) row.wire_bytes_per_msg = wire;
    return row;
  } finally {
    caller.close();
  }
}

/** Bytes both ways on the client's connection per call, one call at a time after a warm-up. */
async function wirePerCall(protocol: RpcProtocol, ctx: RpcContext): Promise<number | undefined> {
  const proxy = await countingProxy(ctx.url.hostname, Number(ctx.url.port));
  const via = new URL(ctx.url.href);
  via.hostname = '127.0.0.1';
  via.port = String(proxy.port);
  const caller = await open(protocol, via);
  try {
    for (let i = 0; i < 10; i++) await caller.call();
    const before = proxy.total();
    const calls = ctx.quick ? 100 : 500;
    const end = performance.now() + 3000 * ctx.patience;
    let done = 0;
    while (done < calls && performance.now() < end) {
      await caller.call();
      done++;
    }
    await sleep(50); // trailing window updates and pings
    return done > 0 ? Math.round((proxy.total() - before) / done) : undefined;
  } finally {
    caller.close();
    proxy.close();
  }
}
