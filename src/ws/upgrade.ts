/**
 * The upgrade route (/ws): what the upgrade request says before any WebSocket exists — the
 * credentials (an Authorization header, or, since browsers cannot set headers on a WebSocket, an
 * `auth.<base64url>` offered subprotocol), the vhost (`?vhost=`), and whether the client speaks
 * `switchyard.v1` — and the core connection it opens. A refused upgrade is answered as plain
 * HTTP with a JSON body, before the handshake completes.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type AnonymousPolicy,
  asSwitchyardError,
  type Broker,
  type CoreConnection,
  type Credentials,
  identify,
} from '../core/index.js';
import { type ErrorCode, SwitchyardError } from '../errors/index.js';
import { parseBasicAuth } from '../util/basic-auth.js';

/** The path of the native WebSocket protocol on the shared HTTP listener. */
export const WS_PATH = '/ws';
export const SUBPROTOCOL = 'switchyard.v1';
const AUTH_PREFIX = 'auth.';

export interface Handshake {
  readonly credentials: Credentials | undefined;
  readonly vhost: string;
}

/** Reads the upgrade request. Throws SwitchyardError (SYNTAX_ERROR, AUTHENTICATION_FAILED). */
export function readHandshake(req: IncomingMessage): Handshake {
  const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
  if (offered.length > 0 && !offered.includes(SUBPROTOCOL)) {
    throw new SwitchyardError(
      'SYNTAX_ERROR',
      `offer the subprotocol '${SUBPROTOCOL}' (alone or with an auth.* credential), or none`,
    );
  }
  const authProtocols = offered.filter((p) => p.startsWith(AUTH_PREFIX));
  if (authProtocols.length > 1) {
    throw new SwitchyardError('AUTHENTICATION_FAILED', 'more than one auth.* subprotocol offered');
  }
  return {
    credentials: credentialsOf(req.headers.authorization, authProtocols[0]),
    vhost: new URL(req.url ?? '/', 'http://localhost').searchParams.get('vhost') ?? '/',
  };
}

/** The subprotocol to accept: switchyard.v1 when offered (an auth.* token is never echoed back). */
export function selectProtocol(protocols: Set<string>): string | false {
  return protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

function offeredProtocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  const out: string[] = [];
  for (const p of header.split(',')) {
    const t = p.trim();
    if (t !== '') out.push(t);
  }
  return out;
}

/** The Authorization header wins over an auth.* subprotocol when a client sends both. */
function credentialsOf(
  authorization: string | undefined,
  authProtocol: string | undefined,
): Credentials | undefined {
  const basic = parseBasicAuth(authorization);
  if (basic === null) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      'the Authorization header is not well-formed Basic credentials',
    );
  }
  if (basic !== undefined || authProtocol === undefined) return basic;
  const token = authProtocol.slice(AUTH_PREFIX.length);
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  const colon = text.indexOf(':');
  if (colon < 0) {
    throw new SwitchyardError(
      'AUTHENTICATION_FAILED',
      'the auth.* subprotocol must be auth.<base64url of user:password>',
    );
  }
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Answers an upgrade with an HTTP error and a JSON body `{code, message}`, then closes. */
export function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ code, message });
  const challenge = status === 401 ? 'WWW-Authenticate: Basic realm="switchyard"\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
      'Connection: close\r\n' +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      challenge +
      `\r\n${body}`,
    () => socket.destroy(),
  );
}

/**
 * Authenticates an upgrade and opens its core connection, or answers it with an HTTP error
 * (undefined then).
 */
export async function admitUpgrade(
  broker: Broker,
  anonymous: AnonymousPolicy,
  req: IncomingMessage,
  socket: Duplex,
): Promise<CoreConnection | undefined> {
  const remoteAddress = req.socket.remoteAddress ?? '';
  let vhost = '/';
  try {
    const hs = readHandshake(req);
    vhost = hs.vhost;
    const user = await identify(broker, hs.credentials, remoteAddress, anonymous);
    return broker.connect({ protocol: 'ws', remoteAddress, user, vhost });
  } catch (e) {
    const err = asSwitchyardError(e);
    // NOT_ALLOWED is an unknown vhost: a missing resource, so 404.
    if (socket.destroyed) return undefined;
    if (err.code === 'NOT_ALLOWED') refuseUpgrade(socket, 404, 'NOT_FOUND', `vhost '${vhost}' not found`);
    else refuseUpgrade(socket, err.spec.http, err.code, err.message);
    return undefined;
  }
}
