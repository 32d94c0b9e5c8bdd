/**
 * The self-contained HTML report: inline CSS, charts pre-rendered as inline SVG, the table. No
 * script and no network, so it opens anywhere, offline, and prints as it shows.
 */
import type { MetaLine, ResultRow } from './schema.js';
import { describeRow, formatSize, renderTable, tableCells } from './report.js';

const COLORS = [
  '#2563eb',
  '#dc2626',
  '#16a34a',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
  '#65a30d',
];

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const fmt = (v: number) => v.toLocaleString('en-US', { maximumFractionDigits: v < 10 ? 1 : 0 });

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly color: string;
}

/** Horizontal bars, one per row, scaled to the largest. */
export function barChart(id: string, title: string, unit: string, bars: readonly Bar[]): string {
  const rowH = 22;
  const labelW = 260;
  const plotW = 420;
  const h = 30 + bars.length * rowH + 10;
  const max = Math.max(1, ...bars.map((b) => b.value));
  const parts = bars.map((b, i) => {
    const y = 30 + i * rowH;
    const w = Math.max(1, (b.value / max) * plotW);
    return (
      `<text x="${labelW - 6}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${b.color}"><title>${esc(b.label)}: ${fmt(b.value)} ${esc(unit)}</title></rect>` +
      `<text x="${labelW + w + 4}" y="${y + 15}">${fmt(b.value)}</text>`
    );
  });
  return (
    `<figure><svg class="chart" data-chart="${id}" role="img" aria-label="${esc(title)}" width="${labelW + plotW + 90}" height="${h}" viewBox="0 0 ${labelW + plotW + 90} ${h}">` +
    `<text x="0" y="16" class="title">${esc(title)} (${esc(unit)})</text>${parts.join('')}</svg></figure>`
  );
}

/** Latency percentiles per protocol: one line per row over p50..max, log scale. */
export function percentileChart(id: string, title: string, rows: readonly ResultRow[]): string {
  const keys = ['p50', 'p90', 'p99', 'p999', 'max'] as const;
  const names = ['p50', 'p90', 'p99', 'p99.9', 'max'];
  const left = 60;
  const top = 30;
  const plotW = 420;
  const plotH = 240;
  const legendW = 240;
  const withLat = rows.filter((r) => r.latency_us !== undefined);
  const values = withLat.flatMap((r) => keys.map((k) => Math.max(1, r.latency_us![k])));
  const lo = Math.floor(Math.log10(Math.min(...values, 10)));
  const hi = Math.ceil(Math.log10(Math.max(...values, 100)));
  const y = (v: number) => top + plotH - ((Math.log10(Math.max(1, v)) - lo) / Math.max(1, hi - lo)) * plotH;
  const x = (i: number) => left + (i / (keys.length - 1)) * plotW;
  const grid: string[] = [];
  for (let e = lo; e <= hi; e++) {
    grid.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" class="grid"/>` +
        `<text x="${left - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${fmt(10 ** e)}</text>`,
    );
  }
  names.forEach((n, i) => {
    grid.push(`<text x="${x(i)}" y="${top + plotH + 18}" text-anchor="middle">${n}</text>`);
  });
  const series = withLat.map((r, s) => {
    const color = COLORS[s % COLORS.length]!;
    const pts = keys.map((k, i) => `${x(i).toFixed(1)},${y(r.latency_us![k]).toFixed(1)}`);
    const label = `${r.protocol} ${formatSize(r.size)} ${describeRow(r)}`;
    return (
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>` +
      keys
        .map(
          (k, i) =>
            `<circle cx="${x(i).toFixed(1)}" cy="${y(r.latency_us![k]).toFixed(1)}" r="3" fill="${color}"><title>${esc(label)} ${names[i]}: ${fmt(r.latency_us![k])} µs</title></circle>`,
        )
        .join('') +
      `<rect x="${left + plotW + 20}" y="${top + s * 18}" width="10" height="10" fill="${color}"/>` +
      `<text x="${left + plotW + 36}" y="${top + s * 18 + 10}">${esc(label)}</text>`
    );
  });
  const h = Math.max(top + plotH + 30, top + withLat.length * 18 + 10);
  return (
    `<figure><svg class="chart" data-chart="${id}" role="img" aria-label="${esc(title)}" width="${left + plotW + legendW + 40}" height="${h}" viewBox="0 0 ${left + plotW + legendW + 40} ${h}">` +
    `<text x="0" y="16" class="title">${esc(title)} (µs, log scale)</text>${grid.join('')}${series.join('')}</svg></figure>`
  );
}

const colorOf = (protocols: string[], p: string) => {
  if (!protocols.includes(p)) protocols.push(p);
  return COLORS[protocols.indexOf(p) % COLORS.length]!;
};

export function renderHtml(
  meta: MetaLine,
  rows: readonly ResultRow[],
  anomalies: readonly string[],
  earlier?: readonly ResultRow[],
): string {
  const palette: string[] = [];
  const bar = (r: ResultRow, value: number | undefined): Bar[] =>
    value === undefined
      ? []
      : [
          {
            label:
              `${r.protocol} ${r.scenario === 'idle' ? '' : formatSize(r.size)} ${describeRow(r)}`.replace(
                / +/g,
                ' ',
              ),
            value,
            color: colorOf(palette, r.protocol),
          },
        ];
  const by = (s: ResultRow['scenario']) => rows.filter((r) => r.scenario === s);
  const charts: string[] = [];
  const thr = by('throughput').flatMap((r) => bar(r, r.msgs_per_s));
  if (thr.length) charts.push(barChart('throughput', 'Throughput, 1 -> 1 at the maximum rate', 'msg/s', thr));
  const lat = by('latency');
  if (lat.length)
    charts.push(percentileChart('latency', `Latency at a fixed rate, coordinated-omission corrected`, lat));
  // One wire chart per size: 64 KiB bars would flatten the 16 B ones to nothing.
  const wireRows = rows.filter(
    (r) => (r.scenario === 'throughput' || r.scenario === 'rpc') && r.wire_bytes_per_msg !== undefined,
  );
  const wireSizes = [...new Set(wireRows.filter((r) => r.scenario === 'throughput').map((r) => r.size))];
  for (const [i, size] of wireSizes.entries()) {
    const group = wireRows.filter(
      (r) => (r.scenario === 'throughput' && r.size === size) || (i === 0 && r.scenario === 'rpc'),
    );
    charts.push(
      barChart(
        i === 0 ? 'wire' : `wire-${size}`,
        `Wire bytes per message, ${formatSize(size)} payload${i === 0 ? ' (and per RPC call)' : ''}, both directions at the socket`,
        'B',
        group.flatMap((r) => bar(r, r.wire_bytes_per_msg)),
      ),
    );
  }
  const fan = by('fanout').flatMap((r) => bar(r, r.msgs_per_s));
  if (fan.length) charts.push(barChart('fanout', 'Fan-out deliveries', 'deliveries/s', fan));
  const rpc = by('rpc');
  if (rpc.length) {
    charts.push(
      barChart(
        'rpc',
        'RPC: UpdateStock calls',
        'calls/s',
        rpc.flatMap((r) => bar(r, r.msgs_per_s)),
      ),
    );
    charts.push(percentileChart('rpc-latency', 'RPC call latency', rpc));
  }
  const idle = by('idle').flatMap((r) => bar(r, r.rss_kib_per_connection));
  if (idle.length) charts.push(barChart('idle', 'Broker memory per idle connection', 'KiB', idle));
  const m = meta.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>switchyard bench ${esc(meta.started)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111;max-width:1200px}
h1{font-size:20px}figure{margin:16px 0}svg text{font:12px system-ui,sans-serif;fill:#222}
svg .title{font-weight:600;font-size:13px}.grid{stroke:#ddd}
pre{font:12px ui-monospace,monospace;overflow-x:auto;background:#f6f6f6;padding:8px}
.note{color:#555}
</style></head><body>
<h1>switchyard bench</h1>
<p>Started ${esc(meta.started)}${meta.finished ? `, finished ${esc(meta.finished)}` : ''}; target ${esc(meta.target)}; Switchyard ${esc(meta.switchyard)}, Node ${esc(meta.node)};
${esc(String(m.cpus))} x ${esc(m.cpu_model)}, ${esc(String(m.mem_gb))} GiB, ${esc(m.kernel)}.</p>
<p class="note">Options: <code>${esc(JSON.stringify(meta.options))}</code></p>
${charts.join('\n')}
<h2>Results${earlier ? ' (change against the earlier run)' : ''}</h2>
<pre>${esc(renderTable(tableCells(rows, earlier)))}</pre>
${anomalies.length ? `<h2>Anomalies</h2><ul>${anomalies.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
