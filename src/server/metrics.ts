/**
 * GET /metrics on the HTTP listener, in the Prometheus text format. Today it holds the gateway's
 * per-method upstream call counts and latency histograms; broker metrics join it here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FrontEnd } from '../core/index.js';
import type { Gateway } from '../gateway/index.js';
import type { AlarmStatus } from './alarms.js';
import type { RequestHandler } from './http.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** `broker` adds the broker's own lines (alarms, health) after the gateway's. */
export function metricsHandler(gateway: Gateway | undefined, broker?: () => string): RequestHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (url !== '/metrics' && !url.startsWith('/metrics?')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('GET /metrics\n');
      return true;
    }
    const body = (gateway?.metrics.prometheus() ?? '') + (broker?.() ?? '');
    res.writeHead(200, { 'content-type': PROMETHEUS_TEXT, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

// --- resource alarms and health (issue 15) ---
const ALARM_RESOURCES = ['memory', 'disk', 'store'] as const;

/** The alarms, health and memory figures in the Prometheus text format. */
export function alarmMetrics(s: AlarmStatus): string {
  const lines = [
    '# HELP switchyard_healthy 1 while the broker can keep what it is given, 0 once its store has failed.',
    '# TYPE switchyard_healthy gauge',
    `switchyard_healthy ${s.healthy ? 1 : 0}`,
    '# HELP switchyard_alarm 1 while a resource alarm blocks publishers.',
    '# TYPE switchyard_alarm gauge',
    ...ALARM_RESOURCES.map((r) => `switchyard_alarm{resource="${r}"} ${s.alarms.includes(r) ? 1 : 0}`),
  ];
  if (s.memory !== undefined) {
    lines.push(
      '# HELP switchyard_memory_resident_bytes Resident set size at the last memory check.',
      '# TYPE switchyard_memory_resident_bytes gauge',
      `switchyard_memory_resident_bytes ${s.memory.rss}`,
      '# HELP switchyard_memory_high_watermark_bytes Resident size at which the memory alarm blocks publishers.',
      '# TYPE switchyard_memory_high_watermark_bytes gauge',
      `switchyard_memory_high_watermark_bytes ${s.memory.highWatermark}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// --- slow consumers (issue 15) ---
/** Per protocol: what connections have unwritten now, and what was dropped for slow consumers. */
export function outboundMetrics(frontEnds: readonly FrontEnd[]): string {
  const stats = frontEnds.map((f) => [f.protocol, f.stats()] as const);
  return `${[
    '# HELP switchyard_outbound_bytes Bytes connections have waiting to be written (bounded per connection by limits.maxOutboundBytes).',
    '# TYPE switchyard_outbound_bytes gauge',
    ...stats.map(([p, s]) => `switchyard_outbound_bytes{protocol="${p}"} ${s.outboundBytes}`),
    '# HELP switchyard_outbound_dropped_messages_total At-most-once deliveries dropped because a connection was over limits.maxOutboundBytes.',
    '# TYPE switchyard_outbound_dropped_messages_total counter',
    ...stats.map(
      ([p, s]) => `switchyard_outbound_dropped_messages_total{protocol="${p}"} ${s.dropped.messages}`,
    ),
    '# HELP switchyard_outbound_dropped_bytes_total Body bytes of those dropped deliveries.',
    '# TYPE switchyard_outbound_dropped_bytes_total counter',
    ...stats.map(([p, s]) => `switchyard_outbound_dropped_bytes_total{protocol="${p}"} ${s.dropped.bytes}`),
  ].join('\n')}\n`;
}
