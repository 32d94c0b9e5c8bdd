/**
 * A REST request body, up to http.maxBodySize, read by the shared reader (src/util/read-body.ts);
 * these are the gateway's answers to a body that is too large or cut short.
 */
import { Code } from '@connectrpc/connect';
import type { BodyErrors } from '../util/read-body.js';
import { GatewayHttpError } from './status.js';

export const BODY_ERRORS: BodyErrors = {
  tooLarge: (limit) =>
    new GatewayHttpError(`the request body is larger than ${limit} bytes`, Code.ResourceExhausted, 413),
  // The client is gone: nobody reads the answer, which only ends the call.
  aborted: () => new GatewayHttpError('the client closed the request', Code.Canceled, 499),
};
