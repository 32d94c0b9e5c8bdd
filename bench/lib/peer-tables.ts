/**
 * Table cells for the side-by-side runs (Switchyard against RabbitMQ or Mosquitto, item by item in
 * one run): a cell shows one value per pass ("run 1 / run 2"), a ratio pairs the two brokers' rows
 * of the same pass.
 */
import { formatNumber } from '../../src/cli/bench/report.js';
import type { FlowTiming, HarnessRow } from './harness.js';
import { type MachineInfo, median } from './machine.js';

export type Field = (r: HarnessRow) => unknown;

const runOf = (r: HarnessRow): number => r.run ?? 1;
const numeric = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** A field of the harness rows as a number (null when absent). */
export const field =
  (name: string): Field =>
  (r) =>
    r[name];

/** Broker CPU time per message, µs: broker CPU% / 100 x 10^6 / msgs/s. */
export const cpuPerMsg: Field = (r) => {
  const cpu = numeric(r.broker_cpu_pct);
  const rate = numeric(r.msgs_per_s);
  return cpu === null || rate === null || rate <= 0 ? null : ((cpu / 100) * 1e6) / rate;
};

/** The rows of one target that `match`, in pass order. */
export function pick(
  rows: readonly HarnessRow[],
  target: string,
  match: (r: HarnessRow) => boolean,
): HarnessRow[] {
  return rows.filter((r) => r.target === target && match(r)).sort((a, b) => runOf(a) - runOf(b));
}

/** "v1 / v2" over the passes; ERR where a pass failed without the value; '-' for no rows. */
export function cell(group: readonly HarnessRow[], f: Field, digits = 0): string {
  if (group.length === 0) return '-';
  return group
    .map((r) => {
      const v = numeric(f(r));
      return r.error !== undefined && v === null ? 'ERR' : formatNumber(v, digits);
    })
    .join(' / ');
}

/** "a / b" cells of two targets side by side. */
export const both = (a: readonly HarnessRow[], b: readonly HarnessRow[], f: Field, digits = 0): string =>
  `${cell(a, f, digits)} / ${cell(b, f, digits)}`;

/** Rows of the same pass: [[a, b], ...]. */
export function pairs(ga: readonly HarnessRow[], gb: readonly HarnessRow[]): [HarnessRow, HarnessRow][] {
  const out: [HarnessRow, HarnessRow][] = [];
  for (const a of ga) {
    const b = gb.find((x) => runOf(x) === runOf(a));
    if (b !== undefined) out.push([a, b]);
  }
  return out;
}

/** Per pass f(a) / f(b) (f(b) / f(a) with invert: lower is better); null where one is missing. */
export function ratios(
  ga: readonly HarnessRow[],
  gb: readonly HarnessRow[],
  f: Field,
  invert = false,
): (number | null)[] {
  return pairs(ga, gb).map(([a, b]) => {
    const va = numeric(f(a));
    const vb = numeric(f(b));
    if (va === null || vb === null || va <= 0 || vb <= 0) return null;
    return invert ? vb / va : va / vb;
  });
}

export const ratioText = (rs: readonly (number | null)[]): string =>
  rs.length === 0 ? '-' : rs.map((x) => (x === null ? '-' : `${formatNumber(x, 2)}x`)).join(' / ');

export const ratioCell = (
  ga: readonly HarnessRow[],
  gb: readonly HarnessRow[],
  f: Field,
  invert = false,
): string => ratioText(ratios(ga, gb, f, invert));

/** A target's verdict: met, **not met**, or not measured (null). */
export const verdict = (ok: boolean | null): string =>
  ok === null ? 'not measured' : ok ? 'met' : '**not met**';

/** "Errors and anomalies:" and its list, or `none`. */
export function notesBlock(notes: readonly string[], none: string): string[] {
  return notes.length === 0 ? [none, ''] : ['Errors and anomalies:', '', ...notes.map((n) => `- ${n}`), ''];
}

/**
 * The run's conditions, for the reader to judge its figures by: the machine, the load average at
 * the start and end (and at the start of each harness run), the other jobs' CPU during the measured
 * windows (of `measured`), the timing, the wall time (`wallNote`: what it includes).
 */
export function conditionsLine(o: {
  machine: MachineInfo;
  loadavg: readonly [number | undefined, number | undefined];
  rows: readonly HarnessRow[];
  measured: readonly HarnessRow[];
  timing: FlowTiming & { repeat: number };
  durationS: number;
  wallNote?: string;
}): string {
  const numbers = (rows: readonly HarnessRow[], name: string) =>
    rows.map((r) => r[name]).filter((x): x is number => typeof x === 'number');
  const load = numbers(o.rows, 'loadavg_1m');
  const other = numbers(o.measured, 'other_cpu_pct');
  const m = o.machine;
  const t = o.timing;
  return (
    `Machine: ${m.cpus} x ${m.cpu_model}, ${m.mem_gb} GiB RAM, ${m.kernel}. ` +
    `Load average (1 min) at start ${formatNumber(o.loadavg[0], 2)}, at end ${formatNumber(o.loadavg[1], 2)}` +
    `${load.length > 0 ? `, ${formatNumber(Math.min(...load), 2)}-${formatNumber(Math.max(...load), 2)} at the start of each run` : ''}; ` +
    `${other.length > 0 ? `"other" CPU (neither broker nor client) median ${formatNumber(median(other), 1)}%, max ${formatNumber(Math.max(...other), 1)}% of one core. ` : ''}` +
    `Timing: ${t.warmup} s warm-up + ${t.duration} s measured per run${t.repeat > 1 ? `, ${t.repeat} passes (cells: run 1 / run 2 / ...)` : ''}. ` +
    `Wall time ${formatNumber(o.durationS / 60, 1)} min${o.wallNote ?? ''}.`
  );
}

/** A run's heading and command line. */
export const runHeading = (o: {
  date: string;
  scenarios: readonly string[];
  quick: boolean;
  command: string;
}): string[] => [
  `### ${o.date.slice(0, 10)} ${o.date.slice(11, 16)} UTC: ${o.scenarios.join(', ')}${o.quick ? ' (quick)' : ''}`,
  '',
  `Command: \`${o.command}\`.`,
  '',
];
