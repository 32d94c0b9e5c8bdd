/**
 * Shared helpers for end-to-end tests: a broker on 127.0.0.1, port 0, and the targets an
 * interop suite runs against (Switchyard always; RabbitMQ too when RABBITMQ_URL names one that
 * answers, else that suite is skipped with a line saying how to get one).
 */
import { configSchema } from '../src/config/schema.js';
import { type RunningServer, type ServerHooks, startServer } from '../src/server/index.js';
import { removeTempDir, tempDir } from './support/temp.js';
import { skipUnless } from './support/tools.js';
import { WAIT_MS } from './support/wait.js';

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

/**
 * A broker on 127.0.0.1 with every listener on an ephemeral port. Without `dataDir` it gets a
 * temporary one, which close() removes; a `dataDir` the caller gives is the caller's to remove
 * (tests that restart a broker pass the same one again).
 */
export async function startTestBroker(
  amqp: Record<string, unknown> = {},
  dataDir?: string,
  extra: Record<string, unknown> = {},
  hooks: ServerHooks = {},
): Promise<TestBroker> {
  const dir = dataDir ?? tempDir('switchyard-test-');
  const removeOwnDir = () => (dataDir === undefined ? removeTempDir(dir) : Promise.resolve());
  // Every listener on an ephemeral port, so test files can run in parallel. Clients without
  // credentials act as 'anonymous' from loopback (the broker's default is 'never'; tests of that
  // default say so), and a refused login is answered at once unless a test asks for the delay.
  const section = (name: string) => ({
    port: 0,
    anonymous: 'loopback',
    ...(extra[name] as Record<string, unknown> | undefined),
  });
  const config = configSchema.parse({
    host: '127.0.0.1',
    dataDir: dir,
    amqp: { port: 0, ...amqp },
    auth: { failureDelay: 0 },
    ...extra,
    mqtt: section('mqtt'),
    http: section('http'),
    grpc: section('grpc'),
  });
  let server: RunningServer;
  try {
    server = await startServer(config, undefined, hooks);
  } catch (e) {
    await removeOwnDir();
    throw e;
  }
  const port = server.amqp!.address.port;
  return {
    server,
    port,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    close: async () => {
      await server.close();
      await removeOwnDir();
    },
  };
}

export interface Target {
  readonly name: 'switchyard' | 'rabbitmq';
  readonly url: string;
  readonly port: number;
  /** node:test's `skip` for this target's suite: false, or why it cannot run here. */
  readonly skip: string | false;
  /** Releases what interopTargets() made. */
  stop(): Promise<void>;
}

/**
 * The targets an interop suite runs against: Switchyard, and RabbitMQ as the reference (skipped,
 * with the reason, when RABBITMQ_URL is unset or nothing answers there).
 */
export async function interopTargets(): Promise<Target[]> {
  const b = await startTestBroker();
  const rabbitSkip = await skipUnless('rabbitmq');
  const rabbit = rabbitSkip === false ? process.env.RABBITMQ_URL! : '';
  return [
    { name: 'switchyard', url: b.url, port: b.port, skip: false, stop: () => b.close() },
    {
      name: 'rabbitmq',
      url: rabbit,
      port: rabbit === '' ? 0 : Number(new URL(rabbit).port || 5672),
      skip: rabbitSkip,
      // A RabbitMQ is shared by every suite and run by CI, not started here: nothing to release.
      stop: () => Promise.resolve(),
    },
  ];
}

/** A name no other test (or earlier run against a shared RabbitMQ) uses. */
export function uniq(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Resolves when `emitter` emits `event` (or rejects after `ms`, so a hung test fails clearly). */
export function once<T = unknown>(
  emitter: { once(ev: string, fn: (...a: unknown[]) => void): unknown },
  event: string,
  ms = WAIT_MS,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for '${event}'`)), ms);
    emitter.once(event, (v: unknown) => {
      clearTimeout(t);
      resolve(v as T);
    });
  });
}
