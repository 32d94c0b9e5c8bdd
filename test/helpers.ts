/**
 * Shared helpers for end-to-end tests: a broker on 127.0.0.1, port 0, and the targets an
 * interop suite runs against (Switchyard always; RabbitMQ too when RABBITMQ_URL is set).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../src/config/schema.js';
import { type RunningServer, startServer } from '../src/server/index.js';

/** CLI flags that put every listener on an ephemeral port (CLI tests run in parallel). */
export const EPHEMERAL_PORTS = [
  '--amqp-port',
  '0',
  '--mqtt-port',
  '0',
  '--http-port',
  '0',
  '--grpc-port',
  '0',
] as const;

export interface TestBroker {
  readonly server: RunningServer;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startTestBroker(
  amqp: Record<string, unknown> = {},
  dataDir = mkdtempSync(join(tmpdir(), 'switchyard-test-')),
  extra: Record<string, unknown> = {},
): Promise<TestBroker> {
  // Every listener on an ephemeral port, so test files can run in parallel.
  const config = configSchema.parse({
    host: '127.0.0.1',
    dataDir,
    amqp: { port: 0, ...amqp },
    mqtt: { port: 0 },
    http: { port: 0 },
    grpc: { port: 0 },
    ...extra,
  });
  const server = await startServer(config);
  const port = server.amqp!.address.port;
  return { server, port, url: `amqp://guest:guest@127.0.0.1:${port}`, close: () => server.close() };
}

export interface Target {
  readonly name: 'switchyard' | 'rabbitmq';
  readonly url: string;
  readonly port: number;
  /** Releases what start() made. */
  stop(): Promise<void>;
}

/** The targets an interop suite runs against. */
export async function interopTargets(): Promise<Target[]> {
  const b = await startTestBroker();
  const out: Target[] = [{ name: 'switchyard', url: b.url, port: b.port, stop: () => b.close() }];
  const rabbit = process.env.RABBITMQ_URL;
  if (rabbit !== undefined && rabbit !== '') {
    out.push({
      name: 'rabbitmq',
      url: rabbit,
      port: Number(new URL(rabbit).port || 5672),
      stop: async () => {},
    });
  }
  return out;
}

/** A name no other test (or earlier run against a shared RabbitMQ) uses. */
export function uniq(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Resolves when `emitter` emits `event` (or rejects after `ms`, so a hung test fails clearly). */
export function once<T = unknown>(
  emitter: { once(ev: string, fn: (...a: unknown[]) => void): unknown },
  event: string,
  ms = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for '${event}'`)), ms);
    emitter.once(event, (v: unknown) => {
      clearTimeout(t);
      resolve(v as T);
    });
  });
}
