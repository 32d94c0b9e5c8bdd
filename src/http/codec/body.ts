/**
 * Request bodies: read by the shared reader (src/util/read-body.ts) up to http.maxBodySize, and
 * parsed as a JSON object where a route takes one.
 */
import { SwitchyardError } from '../../errors/index.js';
import type { BodyErrors } from '../../util/read-body.js';

/** A body over the limit is 413 CONTENT_TOO_LARGE; one the client cut short ends the request. */
export const BODY_ERRORS: BodyErrors = {
  tooLarge: (limit) =>
    new SwitchyardError('CONTENT_TOO_LARGE', `the request body is larger than ${limit} bytes`),
  aborted: () => new SwitchyardError('CONNECTION_FORCED', 'the client closed the request'),
};

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
