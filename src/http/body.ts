/**
 * Reads a request body up to a limit: refused from Content-Length before anything is read, and
 * counted while it streams in (chunked bodies declare no length), so a client can never make the
 * broker buffer more than `limit` bytes.
 */
import type { IncomingMessage } from 'node:http';
import { SwitchyardError } from '../errors/index.js';

function tooLarge(limit: number): SwitchyardError {
  return new SwitchyardError('CONTENT_TOO_LARGE', `the request body is larger than ${limit} bytes`);
}

/** Throws CONTENT_TOO_LARGE at once when the declared length is over the limit. */
export function checkDeclaredLength(req: IncomingMessage, limit: number): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
}

/** The whole body; rejects with CONTENT_TOO_LARGE past `limit`, or when the client goes away. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  checkDeclaredLength(req, limit);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (err !== undefined) {
        // Stop reading; the error reply closes the connection (replyError).
        req.pause();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) done(tooLarge(limit));
      else chunks.push(c);
    };
    const onEnd = (): void => done(undefined);
    const onClose = (): void => {
      if (!req.complete) done(new SwitchyardError('CONNECTION_FORCED', 'the client closed the request'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('close', onClose);
  });
}

/** A JSON request body that must be an object; anything else is SYNTAX_ERROR saying why. */
export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new SwitchyardError('SYNTAX_ERROR', `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new SwitchyardError('SYNTAX_ERROR', 'the body must be a JSON object');
  }
  return v as Record<string, unknown>;
}
