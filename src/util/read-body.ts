/**
 * Reads an HTTP request body up to a limit, for every front end that takes bodies (the REST data
 * plane, the gateway): refused from Content-Length before anything is read, and counted while it
 * streams in (chunked bodies declare no length), so a client can never make the broker buffer
 * more than `limit` bytes. The errors are the caller's, so each answers in its own terms.
 */
import type { IncomingMessage } from 'node:http';

/** The errors a front end answers a body with; one constant object per front end. */
export interface BodyErrors {
  /** The body is (declared or found) larger than `limit` bytes. */
  tooLarge(limit: number): Error;
  /** The client went away before the body ended. */
  aborted(): Error;
}

/** Throws `errors.tooLarge` at once when the declared length is over the limit. */
export function checkDeclaredLength(req: IncomingMessage, limit: number, errors: BodyErrors): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw errors.tooLarge(limit);
}

/**
 * The whole body. Rejects with `errors.tooLarge` past `limit` (and stops reading: the error
 * reply should close the connection rather than drain what the client still sends), or with
 * `errors.aborted` when the client goes away first.
 */
export function readBody(req: IncomingMessage, limit: number, errors: BodyErrors): Promise<Buffer> {
  checkDeclaredLength(req, limit, errors);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err: Error | undefined): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      req.off('close', onClose);
      if (err !== undefined) {
        req.pause();
        reject(err);
      } else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) done(errors.tooLarge(limit));
      else chunks.push(c);
    };
    const onEnd = (): void => done(undefined);
    const onClose = (): void => {
      if (!req.complete) done(errors.aborted());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
    req.on('close', onClose);
  });
}
