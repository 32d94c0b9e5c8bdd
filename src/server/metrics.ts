/**
 * GET /metrics on the HTTP listener, in the Prometheus text format. Today it holds the gateway's
 * per-method upstream call counts and latency histograms; broker metrics join it here.
 *
 * It says which services exist, how busy they are and what fails: not for everyone. A scraper
 * authenticates with HTTP Basic as a broker user, unless `metrics.public` opens it
 * (docs/security.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Broker } from '../core/index.js';
import type { Gateway } from '../gateway/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';
import type { RequestHandler } from './http.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsSettings {
  /** metrics.public: no credentials needed. */
  readonly public: boolean;
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
      const body = gateway?.metrics.prometheus() ?? '';
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
