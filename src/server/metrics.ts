/**
 * GET /metrics on the HTTP listener, in the Prometheus text format. Today it holds the gateway's
 * per-method upstream call counts and latency histograms; broker metrics join it here.
 *
 * It says which services exist, how busy they are and what fails: not for everyone. A scraper
 * authenticates with HTTP Basic as a broker user, unless `metrics.public` opens it
 * (docs/security.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker, FrontEnd } from '../core/index.js';
import type { Gateway } from '../gateway/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';
import type { AlarmStatus } from './alarms.js';
import type { RequestHandler } from './http.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsSettings {
  /** metrics.public: no credentials needed. */
  readonly public: boolean;
  /** The broker's own lines (alarms, health, slow consumers), after the gateway's. */
  readonly extra?: () => string;
}

export function metricsHandler(
  gateway: Gateway | undefined,
  broker: Broker,
  settings: MetricsSettings,
): RequestHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (url !== '/metrics' && !url.startsWith('/metrics?')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('GET /metrics\n');
      return true;
    }
    const answer = (): void => {
      const body = (gateway?.metrics.prometheus() ?? '') + (settings.extra?.() ?? '');
      res.writeHead(200, { 'content-type': PROMETHEUS_TEXT, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (settings.public) {
      answer();
      return true;
    }
    mayScrape(broker, req).then(
      (ok) => (ok ? answer() : refuse(res)),
      (e: unknown) => {
        process.emitWarning(`metrics: checking credentials failed: ${String(e)}`);
        refuse(res);
      },
    );
    return true;
  };
}

/**
 * Whether the request carries the Basic credentials of a user who may read metrics: as
 * RabbitMQ's Prometheus plugin, a user tagged `monitoring` or `administrator`.
 */
async function mayScrape(broker: Broker, req: IncomingMessage): Promise<boolean> {
  const creds = parseBasicAuth(req.headers.authorization);
  if (creds === undefined || creds === null) return false;
  if (!(await broker.authenticate(creds.user, creds.password, req.socket.remoteAddress ?? ''))) return false;
  const tags = broker.users.tags(creds.user);
  return tags.includes('monitoring') || tags.includes('administrator');
}

function refuse(res: ServerResponse): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify({
    code: 'AUTHENTICATION_FAILED',
    message:
      'GET /metrics needs the Basic credentials of a user tagged monitoring or administrator (or metrics.public: true)',
  });
  res.writeHead(401, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'www-authenticate': 'Basic realm="switchyard metrics"',
  });
  res.end(body);
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
