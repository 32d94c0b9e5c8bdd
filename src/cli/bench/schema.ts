/**
 * The JSON lines of `switchyard bench --json FILE`, as agreed with `switchyard advise` (which
 * reads them): a meta line, one result line per measured row, a summary line. Extra fields are
 * allowed, so later versions may add some without breaking readers.
 */
import { z } from 'zod';
import { PROTOCOL_IDS, SCENARIOS } from './options.js';

export const metaLine = z.looseObject({
  type: z.literal('meta'),
  schema: z.literal(1),
  started: z.string(),
  finished: z.string().optional(),
  target: z.string(),
  switchyard: z.string(),
  node: z.string(),
  machine: z.looseObject({
    cpus: z.number(),
    cpu_model: z.string(),
    mem_gb: z.number(),
    kernel: z.string(),
  }),
  options: z.record(z.string(), z.unknown()),
});

export const latencyUs = z.object({
  p50: z.number(),
  p90: z.number(),
  p99: z.number(),
  p999: z.number(),
  max: z.number(),
});

export const resultLine = z.looseObject({
  type: z.literal('result'),
  scenario: z.enum(SCENARIOS),
  protocol: z.enum(PROTOCOL_IDS),
  size: z.number().int().nonnegative(),
  persistent: z.boolean(),
  fanout: z.number().int().positive().optional(),
  rate: z.number().positive().optional(),
  msgs_per_s: z.number().nonnegative(),
  latency_us: latencyUs.optional(),
  wire_bytes_per_msg: z.number().optional(),
  broker_cpu_us_per_msg: z.number().optional(),
  client_cpu_us_per_msg: z.number().optional(),
  broker_rss_mib: z.number().optional(),
  rss_kib_per_connection: z.number().optional(),
  errors: z.number().int().nonnegative(),
});

export const summaryLine = z.looseObject({
  type: z.literal('summary'),
  rows: z.number().int().nonnegative(),
  duration_s: z.number().nonnegative(),
  anomalies: z.array(z.string()),
});

export type MetaLine = z.infer<typeof metaLine>;
export type ResultRow = z.infer<typeof resultLine>;
export type SummaryLine = z.infer<typeof summaryLine>;

/** The rows of a results file, for --compare; throws with the line number on a bad line. */
export function parseResults(text: string): ResultRow[] {
  const rows: ResultRow[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not JSON`);
    }
    const type = (value as { type?: unknown }).type;
    if (type !== 'result') continue;
    const r = resultLine.safeParse(value);
    if (!r.success) throw new Error(`line ${i + 1}: ${r.error.issues[0]?.message ?? 'bad result line'}`);
    rows.push(r.data);
  }
  return rows;
}
