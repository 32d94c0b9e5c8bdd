/**
 * Reads the JSON lines written by `switchyard bench --json FILE` (the agreed schema 1) and picks
 * the figures the advisor needs: per protocol, latency percentiles and throughput.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PROTOCOL_IDS } from '../bench/options.js';

// The protocol ids are the bench's own; the line schemas below are deliberately looser than its
// (unknown protocols and missing meta fields are tolerated), so an older advise reads a newer file.
export const BENCH_PROTOCOLS = PROTOCOL_IDS;
export type BenchProtocol = (typeof BENCH_PROTOCOLS)[number];

const nonNegative = z.number().finite().nonnegative();

const metaSchema = z.looseObject({
  type: z.literal('meta'),
  schema: z.literal(1),
  started: z.string(),
  target: z.string(),
  machine: z
    .looseObject({
      cpus: z.number().optional(),
      cpu_model: z.string().optional(),
    })
    .optional(),
});

const resultSchema = z.looseObject({
  type: z.literal('result'),
  scenario: z.enum(['throughput', 'latency', 'fanout', 'rpc', 'idle']),
  // Unknown protocols (a newer bench) are kept but never matched.
  protocol: z.string().min(1),
  size: nonNegative,
  persistent: z.boolean(),
  fanout: nonNegative.optional(),
  rate: nonNegative.optional(),
  /** RPC rows: calls in flight. */
  concurrency: nonNegative.optional(),
  msgs_per_s: nonNegative,
  latency_us: z
    .looseObject({
      p50: nonNegative,
      p90: nonNegative,
      p99: nonNegative,
      p999: nonNegative,
      max: nonNegative,
    })
    .optional(),
  wire_bytes_per_msg: nonNegative.optional(),
  broker_cpu_us_per_msg: nonNegative.optional(),
  errors: nonNegative,
});

const summarySchema = z.looseObject({
  type: z.literal('summary'),
  rows: nonNegative,
  duration_s: nonNegative,
  anomalies: z.array(z.string()),
});

export type BenchMeta = z.infer<typeof metaSchema>;
export type BenchResult = z.infer<typeof resultSchema>;

export interface BenchFile {
  readonly meta: BenchMeta;
  readonly results: readonly BenchResult[];
  /** Absent when the run was cut short. */
  readonly anomalies?: readonly string[];
}

export class BenchFileError extends Error {}

/** Parses the text of a bench JSON-lines file; `name` is used in error messages. */
export function parseBenchFile(text: string, name: string): BenchFile {
  const lines = text.split('\n');
  let meta: BenchMeta | undefined;
  const results: BenchResult[] = [];
  let anomalies: string[] | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `${name}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line) as unknown;
    } catch {
      throw new BenchFileError(`${where}: not JSON (is this the file of switchyard bench --json?)`);
    }
    const type = (value as { type?: unknown } | null)?.type;
    const schema =
      type === 'meta'
        ? metaSchema
        : type === 'result'
          ? resultSchema
          : type === 'summary'
            ? summarySchema
            : null;
    if (schema === null) throw new BenchFileError(`${where}: unknown line type ${JSON.stringify(type)}`);
    if (meta === undefined && type !== 'meta') {
      throw new BenchFileError(`${where}: the first line must be the "meta" line`);
    }
    const r = schema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new BenchFileError(`${where}: ${issue.path.join('.') || type}: ${issue.message}`);
    }
    if (type === 'meta') {
      if (meta !== undefined) throw new BenchFileError(`${where}: a second "meta" line`);
      meta = r.data as BenchMeta;
    } else if (type === 'result') results.push(r.data as BenchResult);
    else anomalies = (r.data as z.infer<typeof summarySchema>).anomalies;
  }
  if (meta === undefined) throw new BenchFileError(`${name}: empty: no "meta" line`);
  if (results.length === 0) throw new BenchFileError(`${name}: no "result" lines`);
  return anomalies === undefined ? { meta, results } : { meta, results, anomalies };
}

export function readBenchFile(file: string): BenchFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new BenchFileError(`cannot read bench file ${file}: ${(e as Error).message}`);
  }
  return parseBenchFile(text, file);
}

/** The figures of one protocol that the advisor uses. */
export interface Measured {
  readonly protocol: string;
  readonly size: number;
  readonly p50_us?: number;
  readonly p99_us?: number;
  readonly msgs_per_s?: number;
}

/** Closest size on a log scale: 1 KiB is nearer 4 KiB than 16 B. */
function sizeDistance(a: number, b: number): number {
  return Math.abs(Math.log2(Math.max(a, 1)) - Math.log2(Math.max(b, 1)));
}

const load = (r: BenchResult): number => r.rate ?? r.concurrency ?? Infinity;

function pick(rows: readonly BenchResult[], size: number, persistent: boolean): BenchResult | undefined {
  const same = rows.filter((r) => r.persistent === persistent);
  const pool = same.length > 0 ? same : rows;
  let best: BenchResult | undefined;
  for (const r of pool) {
    if (r.msgs_per_s <= 0) continue;
    if (best === undefined) {
      best = r;
      continue;
    }
    const d = sizeDistance(r.size, size) - sizeDistance(best.size, size);
    // Among rows of one size, the lowest target rate (or calls in flight) is the least loaded
    // latency figure.
    if (d < 0 || (d === 0 && load(r) < load(best))) best = r;
  }
  return best;
}

/**
 * Per protocol: latency from the fixed-rate ("latency", for RPC "rpc") rows, throughput from the
 * "throughput" rows, each at the size nearest `size` and the persistence asked for when measured.
 */
export function measuredFigures(file: BenchFile, size: number, persistent: boolean): Map<string, Measured> {
  const out = new Map<string, Measured>();
  const protocols = new Set(file.results.map((r) => r.protocol));
  for (const protocol of protocols) {
    const rows = file.results.filter((r) => r.protocol === protocol);
    const latencyRows = rows.filter((r) => r.latency_us !== undefined);
    const fixedRate = latencyRows.filter((r) => r.scenario === 'latency' || r.scenario === 'rpc');
    const lat = pick(fixedRate.length > 0 ? fixedRate : latencyRows, size, persistent);
    const tput = pick(
      rows.filter((r) => r.scenario === 'throughput' || r.scenario === 'rpc'),
      size,
      persistent,
    );
    const m: {
      protocol: string;
      size: number;
      p50_us?: number;
      p99_us?: number;
      msgs_per_s?: number;
    } = { protocol, size: (lat ?? tput)?.size ?? size };
    if (lat?.latency_us !== undefined) {
      m.p50_us = lat.latency_us.p50;
      m.p99_us = lat.latency_us.p99;
    }
    if (tput !== undefined) m.msgs_per_s = tput.msgs_per_s;
    if (m.p99_us !== undefined || m.msgs_per_s !== undefined) out.set(protocol, m);
  }
  return out;
}
