/**
 * The command line of `switchyard bench`: parsed and checked before anything starts, so a typo
 * costs an error message (exit code 2), not a half-run benchmark.
 */
import { parseArgs } from 'node:util';

export const PROTOCOL_IDS = [
  'amqp',
  'mqtt-qos0',
  'mqtt-qos1',
  'mqtt-qos2',
  'grpc-session',
  'grpc-unary',
  'ws',
  'ws-json',
  'http-sse',
  'rpc-grpc',
  'rpc-rest',
] as const;
export type ProtocolId = (typeof PROTOCOL_IDS)[number];
export type MessagingProtocol = Exclude<ProtocolId, 'rpc-grpc' | 'rpc-rest'>;
export const isRpc = (p: ProtocolId): p is 'rpc-grpc' | 'rpc-rest' => p === 'rpc-grpc' || p === 'rpc-rest';

export const SCENARIOS = ['throughput', 'latency', 'fanout', 'rpc', 'idle'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Where each kind of listener is; absent = that protocol is skipped (with --target). */
export interface TargetUrls {
  amqp?: URL;
  mqtt?: URL;
  http?: URL;
  grpc?: URL;
}

export interface BenchOptions {
  readonly quick: boolean;
  /** Seconds per measured phase. */
  readonly durationS: number;
  /** Hard bound of the whole run, in seconds. */
  readonly budgetS: number;
  readonly protocols: readonly ProtocolId[];
  readonly scenarios: readonly Scenario[];
  /** Sizes every throughput row runs at; latency and fan-out use the first. */
  readonly sizes: readonly number[];
  readonly rate: number;
  readonly fanout: number;
  readonly idle: number;
  readonly concurrency: number;
  readonly persistent: boolean;
  /** null = embedded broker. */
  readonly targets: TargetUrls | null;
  readonly brokerPid: number | null;
  readonly rpcTargets: { rest?: URL; grpc?: URL } | null;
  readonly json: string | null;
  readonly html: string | null;
  readonly compare: string | null;
  readonly help: boolean;
}

export class UsageError extends Error {}

export const HELP = `switchyard bench [options]

Measures Switchyard's protocols on this machine: throughput, latency, fan-out, RPC and idle
connections, over AMQP, MQTT QoS 0/1/2, gRPC, WebSocket and HTTP + SSE. See docs/bench.md.

  --quick               a short run (within 30 s): 1 KiB only, short phases, 200 idle connections
  --duration S          seconds per measured phase (default 2; --quick 0.5)
  --budget S            hard bound of the whole run (default 170; --quick 30)
  --protocols LIST      ${PROTOCOL_IDS.join(',')} (default all)
  --scenarios LIST      ${SCENARIOS.join(',')} (default all)
  --sizes LIST          throughput payload sizes, e.g. 16,1k,64k (default 1k,16,64k; --quick 1k);
                        latency and fan-out use the first
  --rate N              messages/s of the fixed-rate latency scenario (default 1000)
  --fanout N            subscribers of the fan-out scenario (default 10)
  --idle N              idle connections per protocol (default 1000; --quick 200)
  --concurrency N       calls in flight in the RPC scenario (default 16)
  --no-persistent       skip the persistent rows (durable queue + persistent messages + confirms)
  --target URL          a broker to measure instead of the embedded one; repeatable:
                        amqp://user:pass@host:5672/vhost, mqtt://host:1883,
                        http://user:pass@host:8080 (ws, ws-json, http-sse), grpc://user:pass@host:50051;
                        over TLS amqps:, mqtts:, https: (ws, ws-json) and grpcs: (the CA from the
                        system or NODE_EXTRA_CA_CERTS)
  --broker-pid PID      the --target broker's pid, for its CPU and RSS
  --rpc-target URL      with --target: http://host:port (a Switchyard gateway serving the
                        order-inventory example) and/or grpc://host:port (the Inventory service)
  --json FILE           write the results as JSON lines
  --html FILE           write a self-contained HTML report with charts
  --compare FILE        an earlier --json file: the table shows the change per metric
  -h, --help            this text
`;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 * 1024 };

/** '16', '1k', '64KiB', '1M' -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*([kKmM]?)(?:i?[bB])?$/.exec(text.trim());
  if (!m) throw new UsageError(`bad size '${text}' (examples: 16, 1k, 64KiB)`);
  const bytes = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  if (bytes < 16 || bytes > 16 * 1024 * 1024)
    throw new UsageError(`size ${text} out of range (16 B to 16 MiB: a message carries its send time)`);
  return bytes;
}

function positive(name: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text.replaceAll('_', ''));
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${name} wants a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
  return n;
}

function list<T extends string>(name: string, text: string | undefined, known: readonly T[]): T[] {
  if (text === undefined) return [...known];
  const words = text
    .split(',')
    .map((w) => w.trim())
    .filter((w) => w !== '');
  if (words.length === 0) throw new UsageError(`--${name} is empty`);
  for (const w of words)
    if (!(known as readonly string[]).includes(w))
      throw new UsageError(`--${name}: unknown '${w}' (known: ${known.join(', ')})`);
  return [...new Set(words)] as T[];
}

function url(flag: string, text: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new UsageError(`--${flag}: not a URL: '${text}'`);
  }
}

function targets(texts: readonly string[]): TargetUrls | null {
  if (texts.length === 0) return null;
  const out: TargetUrls = {};
  for (const t of texts) {
    const u = url('target', t);
    // TLS targets (amqps:, mqtts:, grpcs:, wss:/https:) are measured over TLS; the client trusts
    // the system's CAs and NODE_EXTRA_CA_CERTS.
    const kind = u.protocol.slice(0, -1).replace(/^(amqp|mqtt|grpc|ws|http)s$/, '$1');
    if (kind === 'amqp' || kind === 'mqtt' || kind === 'grpc') out[kind] = u;
    else if (kind === 'http' || kind === 'ws') out.http = u;
    else
      throw new UsageError(
        `--target: unknown scheme '${u.protocol}' (amqp:, mqtt:, http:, grpc:, or over TLS amqps:, mqtts:, https:, grpcs:)`,
      );
  }
  return out;
}

function rpcTargets(texts: readonly string[]): { rest?: URL; grpc?: URL } | null {
  if (texts.length === 0) return null;
  const out: { rest?: URL; grpc?: URL } = {};
  for (const t of texts) {
    const u = url('rpc-target', t);
    if (u.protocol === 'http:') out.rest = u;
    else if (u.protocol === 'grpc:') out.grpc = u;
    else throw new UsageError(`--rpc-target: unknown scheme '${u.protocol}' (http:, grpc:)`);
  }
  return out;
}

/** Throws UsageError with a message fit for the user. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      allowNegative: true,
      strict: true,
      options: {
        quick: { type: 'boolean' },
        duration: { type: 'string' },
        budget: { type: 'string' },
        protocols: { type: 'string' },
        scenarios: { type: 'string' },
        sizes: { type: 'string' },
        rate: { type: 'string' },
        fanout: { type: 'string' },
        idle: { type: 'string' },
        concurrency: { type: 'string' },
        persistent: { type: 'boolean' },
        target: { type: 'string', multiple: true },
        'broker-pid': { type: 'string' },
        'rpc-target': { type: 'string', multiple: true },
        json: { type: 'string' },
        html: { type: 'string' },
        compare: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const s = (k: string) => values[k] as string | undefined;
  const quick = values.quick === true;
  const sizes =
    s('sizes') === undefined
      ? quick
        ? [1024]
        : [1024, 16, 65536]
      : [
          ...new Set(
            s('sizes')!
              .split(',')
              .filter((w) => w.trim() !== '')
              .map(parseSize),
          ),
        ];
  if (sizes.length === 0) throw new UsageError('--sizes is empty');
  const brokerPid = s('broker-pid') === undefined ? null : positive('broker-pid', s('broker-pid'), 0, true);
  const t = targets((values.target as string[] | undefined) ?? []);
  if (brokerPid !== null && t === null) throw new UsageError('--broker-pid needs --target');
  return {
    quick,
    durationS: positive('duration', s('duration'), quick ? 0.5 : 2, false),
    budgetS: positive('budget', s('budget'), quick ? 30 : 170, false),
    protocols: list('protocols', s('protocols'), PROTOCOL_IDS),
    scenarios: list('scenarios', s('scenarios'), SCENARIOS),
    sizes,
    rate: positive('rate', s('rate'), 1000, true),
    fanout: positive('fanout', s('fanout'), 10, true),
    idle: positive('idle', s('idle'), quick ? 200 : 1000, true),
    concurrency: positive('concurrency', s('concurrency'), 16, true),
    persistent: values.persistent !== false,
    targets: t,
    brokerPid,
    rpcTargets: rpcTargets((values['rpc-target'] as string[] | undefined) ?? []),
    json: s('json') ?? null,
    html: s('html') ?? null,
    compare: s('compare') ?? null,
    help: values.help === true,
  };
}
