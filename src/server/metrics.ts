/**
 * GET /metrics on the HTTP listener, in the Prometheus text format. Today it holds the gateway's
 * per-method upstream call counts and latency histograms; broker metrics join it here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Gateway } from '../gateway/index.js';
import type { RequestHandler } from './http.js';

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export function metricsHandler(gateway: Gateway | undefined): RequestHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (url !== '/metrics' && !url.startsWith('/metrics?')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('GET /metrics\n');
      return true;
    }
    const body = gateway?.metrics.prometheus() ?? '';
    res.writeHead(200, { 'content-type': PROMETHEUS_TEXT, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
