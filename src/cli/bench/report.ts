/**
 * The table printed at the end of a run, and the change against an earlier run (--compare).
 */
import type { ResultRow } from './schema.js';

/** What identifies "the same measurement" across two runs. */
export function rowKey(r: ResultRow): string {
  return [
    r.scenario,
    r.protocol,
    r.size,
    r.persistent ? 'persistent' : 'transient',
    r.fanout ?? '',
    r.rate ?? '',
  ].join('|');
}

/** Signed change from `before` to `after` in percent, e.g. "+12%", "-3%"; '' when not comparable. */
export function changePct(before: number | undefined, after: number | undefined): string {
  if (before === undefined || after === undefined || !Number.isFinite(before) || !Number.isFinite(after))
    return '';
  if (before === 0) return after === 0 ? '0%' : '';
  const pct = Math.round(((after - before) / before) * 100);
  return `${pct > 0 ? '+' : ''}${pct}%`;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1048576 && bytes % 1048576 === 0) return `${bytes / 1048576} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** A number with thousands separators and `digits` decimals; '-' for a missing or NaN value. */
export function formatNumber(v: number | null | undefined, digits = 0): string {
  return v === undefined || v === null || Number.isNaN(v)
    ? '-'
    : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

const num = formatNumber;

interface Metric {
  readonly head: string;
  readonly get: (r: ResultRow) => number | undefined;
  readonly digits?: number;
}

export const METRICS: readonly Metric[] = [
  { head: 'msg/s', get: (r) => r.msgs_per_s },
  { head: 'p50 µs', get: (r) => r.latency_us?.p50 },
  { head: 'p99 µs', get: (r) => r.latency_us?.p99 },
  { head: 'p99.9 µs', get: (r) => r.latency_us?.p999 },
  { head: 'wire B/msg', get: (r) => r.wire_bytes_per_msg },
  { head: 'broker µs/msg', get: (r) => r.broker_cpu_us_per_msg, digits: 1 },
  { head: 'client µs/msg', get: (r) => r.client_cpu_us_per_msg, digits: 1 },
  { head: 'KiB/conn', get: (r) => r.rss_kib_per_connection, digits: 1 },
];

export function describeRow(r: ResultRow): string {
  const parts: string[] = [r.persistent ? 'persistent' : 'transient'];
  if (r.fanout !== undefined) parts.push(`1->${r.fanout}`);
  if (r.rate !== undefined) parts.push(`@${r.rate}/s`);
  if (r.scenario === 'idle') parts.push(`${String(r.connections ?? '?')} conns`);
  return parts.join(' ');
}

/** Header and cells of the result table; with `earlier`, a change column after each metric. */
export function tableCells(rows: readonly ResultRow[], earlier?: readonly ResultRow[]): string[][] {
  const before = new Map((earlier ?? []).map((r) => [rowKey(r), r]));
  const head = ['scenario', 'protocol', 'size', 'mode'];
  for (const m of METRICS) {
    head.push(m.head);
    if (earlier !== undefined) head.push('change');
  }
  head.push('errors');
  const out = [head];
  for (const r of rows) {
    const old = before.get(rowKey(r));
    const cells = [r.scenario, r.protocol, r.scenario === 'idle' ? '-' : formatSize(r.size), describeRow(r)];
    for (const m of METRICS) {
      cells.push(num(m.get(r), m.digits));
      if (earlier !== undefined) cells.push(old === undefined ? 'new' : changePct(m.get(old), m.get(r)));
    }
    cells.push(String(r.errors));
    out.push(cells);
  }
  return out;
}

/** A plain text table with aligned columns (numbers right-aligned). */
export function renderTable(cells: readonly (readonly string[])[]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: readonly string[], isHead: boolean) =>
    r
      .map((c, i) => {
        const pad = ' '.repeat(widths[i]! - [...c].length);
        return i < 4 || isHead ? c + pad : pad + c;
      })
      .join('  ')
      .trimEnd();
  return [line(cells[0]!, true), ...cells.slice(1).map((r) => line(r, false))].join('\n');
}

/**
 * A markdown table with padded columns (the layout biome's markdown formatter wants), for the
 * tables the bench/ scripts write into docs/benchmarks.md.
 */
export function renderMarkdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const escapePipes = (c: string) => c.replaceAll('|', '\\|');
  const all = [head, ...rows].map((r) => r.map(escapePipes));
  const len = (c: string) => [...c].length;
  const widths = head.map((_, i) => Math.max(3, ...all.map((r) => len(r[i] ?? ''))));
  const line = (r: readonly string[]) =>
    `| ${widths.map((w, i) => (r[i] ?? '') + ' '.repeat(w - len(r[i] ?? ''))).join(' | ')} |`;
  return [
    line(all[0]!),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...all.slice(1).map(line),
  ].join('\n');
}
