/**
 * Cross-origin requests from browsers (http.corsOrigins) for everything on the HTTP listener:
 * REST and SSE, gRPC-Web/Connect and the gateway. It runs before every other handler: it answers
 * preflights itself and adds the response headers to the rest, which go on to their handler.
 * A listed origin may send credentials (Basic auth); '*' allows any origin without them, as the
 * Fetch standard requires. WebSocket upgrades are not subject to CORS.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from './http.js';

/** Response headers a cross-origin page may read: the gRPC-Web/Connect status, our own errors. */
const EXPOSED = [
  'grpc-status',
  'grpc-message',
  'grpc-status-details-bin',
  'grpc-encoding',
  'connect-content-encoding',
  'retry-after',
  'content-length',
];
const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
/** How long a browser may cache a preflight answer, seconds. */
const MAX_AGE = '7200';

export function corsHandler(origins: readonly string[], exposed: readonly string[] = []): RequestHandler {
  const anyOrigin = origins.includes('*');
  const listed = new Set(origins.filter((o) => o !== '*').map((o) => new URL(o).origin));
  const expose = [...new Set([...EXPOSED, ...exposed.map((h) => h.toLowerCase())])].join(', ');
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return false;
    const credentials = listed.has(origin);
    if (!credentials && !anyOrigin) {
      if (!isPreflight(req)) return false;
      res.writeHead(403, { 'content-type': 'application/json', vary: 'Origin' });
      res.end(
        JSON.stringify({ code: 'ACCESS_REFUSED', message: `origin ${origin} is not in http.corsOrigins` }),
      );
      return true;
    }
    res.setHeader('access-control-allow-origin', credentials ? origin : '*');
    res.setHeader('vary', 'Origin');
    if (credentials) res.setHeader('access-control-allow-credentials', 'true');
    if (!isPreflight(req)) {
      res.setHeader('access-control-expose-headers', expose);
      return false;
    }
    const asked = req.headers['access-control-request-headers'];
    res.writeHead(204, {
      'access-control-allow-methods': METHODS,
      ...(asked === undefined ? {} : { 'access-control-allow-headers': asked }),
      'access-control-max-age': MAX_AGE,
    });
    res.end();
    return true;
  };
}

function isPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
}
