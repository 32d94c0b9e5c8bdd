/**
 * The REST and SSE routes under /api/v1 (docs/http.md). The path is split by hand rather than
 * with `new URL`, which would resolve `..` and merge segments: a queue may be named `..` or
 * contain `/` (sent as `%2F`), and every segment must reach the core exactly as encoded.
 */
import { SwitchyardError } from '../errors/index.js';
import { HttpStatusError } from './errors.js';

export const API_PREFIX = '/api/v1/';

export type RouteKind = 'publish' | 'exchange-events' | 'get' | 'ack' | 'queue-events';

export interface Route {
  readonly kind: RouteKind;
  readonly vhost: string;
  /** The exchange ('' = the default exchange) or the queue the route names. */
  readonly name: string;
  readonly query: URLSearchParams;
}

type Methods = Readonly<Record<string, RouteKind>>;

/**
 * The route kind per action and method, for each collection a vhost has. `messages` takes GET
 * too, for manual gets only (handlers/get.ts refuses a GET that would settle messages).
 */
const ACTIONS: Readonly<Record<string, Readonly<Record<string, Methods>>>> = {
  exchanges: { publish: { POST: 'publish' }, events: { GET: 'exchange-events' } },
  queues: { messages: { POST: 'get', GET: 'get' }, ack: { POST: 'ack' }, events: { GET: 'queue-events' } },
};

/** Whether a request target belongs to this front end (anything else goes to the next handler). */
export function isApiTarget(target: string): boolean {
  return target.startsWith(API_PREFIX) || target === '/api/v1' || target.startsWith('/api/v1?');
}

/**
 * The route a request names. Throws NOT_FOUND (404) for a path that names none, COMMAND_INVALID
 * with status 405 and an Allow header for a known path with another method, and SYNTAX_ERROR for
 * bad percent-encoding.
 */
export function parseRoute(method: string, target: string): Route {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  const parts = path.startsWith(API_PREFIX) ? path.slice(API_PREFIX.length).split('/') : [];
  const action = parts.length === 5 && parts[0] === 'vhosts' ? ACTIONS[parts[2]!]?.[parts[4]!] : undefined;
  if (action === undefined) {
    throw new SwitchyardError('NOT_FOUND', `no route for ${method} ${clip(path)} (see docs/http.md)`);
  }
  const kind = Object.hasOwn(action, method) ? action[method] : undefined;
  if (kind === undefined) {
    const allow = Object.keys(action).sort().join(', ');
    throw new HttpStatusError('COMMAND_INVALID', `${clip(path)} takes ${allow}, not ${clip(method)}`, 405, {
      allow,
    });
  }
  const vhost = segment(parts[1]!, 'vhost');
  let name = segment(parts[3]!, parts[2] === 'exchanges' ? 'exchange' : 'queue');
  if (parts[2] === 'exchanges' && name === 'amq.default') name = '';
  return { kind, vhost, name, query };
}

function segment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new SwitchyardError(
      'SYNTAX_ERROR',
      `the ${what} name in the path is not valid percent-encoded UTF-8`,
    );
  }
}

/** Paths and methods come from the client: long ones are cut in messages. */
export function clip(s: string, max = 200): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
