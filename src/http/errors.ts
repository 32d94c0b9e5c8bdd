/**
 * Error replies: every one is JSON `{code, message}` with the catalogue's HTTP status, plus the
 * headers HTTP expects with some statuses (WWW-Authenticate with 401, Retry-After with 503,
 * Allow with 405).
 */
import type { ServerResponse } from 'node:http';
import { asSwitchyardError } from '../core/index.js';
import { type ErrorCode, SwitchyardError } from '../errors/index.js';

/** A SwitchyardError whose HTTP status is not the catalogue's (405 has no code of its own). */
export class HttpStatusError extends SwitchyardError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message);
  }
}

/** Seconds a blocked publisher is told to wait (DESIGN.md section 4: HTTP 503 with Retry-After). */
export const RETRY_AFTER_S = 5;

export function statusOf(e: SwitchyardError): number {
  return e instanceof HttpStatusError ? e.status : e.spec.http;
}

/** Answers with an error, unless the response is already under way or the client has gone. */
export function replyError(res: ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const e = asSwitchyardError(err);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (e instanceof HttpStatusError) Object.assign(headers, e.headers);
  if (e.code === 'AUTHENTICATION_FAILED') headers['www-authenticate'] = 'Basic realm="switchyard"';
  if (e.code === 'RESOURCE_ERROR') headers['retry-after'] = String(RETRY_AFTER_S);
  // A body the handler did not read (413, or an error before reading it) would have to be
  // drained to keep the connection: closing it is cheaper and bounds what a client can send.
  if (!res.req.complete) headers.connection = 'close';
  res.writeHead(statusOf(e), headers);
  res.end(JSON.stringify({ code: e.code, message: e.message }));
}

/** Answers with JSON. Never cached: a get takes messages off a queue, a publish is not repeatable. */
export function replyJson(res: ServerResponse, status: number, value: unknown): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}
