/**
 * HTTP Basic credentials (RFC 7617), as the REST API, the native WebSocket upgrade and gRPC
 * metadata carry them.
 */

export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

/**
 * Parses an `Authorization` value. Undefined when there is none; null when it is there but is
 * not well-formed Basic credentials (the caller answers 401 either way, with a different text).
 */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined | null {
  if (header === undefined || header === '') return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return null;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}
