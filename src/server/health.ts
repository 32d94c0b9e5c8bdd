/**
 * GET /health on the HTTP listener (issue 15): 200 `{"status":"ok", ...}` while the broker can
 * take messages, 503 `{"status":"unhealthy", ...}` once its store has failed for good; both name
 * the resource alarms in force (a memory or disk alarm blocks publishers but is not a failure:
 * it ends by itself) and the memory figures. Load balancers read the status code; people read
 * the body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ResourceAlarms } from './alarms.js';
import type { RequestHandler } from './http.js';

export function healthHandler(alarms: ResourceAlarms): RequestHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? '';
    if (url !== '/health' && !url.startsWith('/health?')) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('GET /health\n');
      return true;
    }
    const s = alarms.status();
    const body = JSON.stringify({ status: s.healthy ? 'ok' : 'unhealthy', ...s });
    res.writeHead(s.healthy ? 200 : 503, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
