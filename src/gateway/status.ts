/**
 * gRPC status → HTTP: the standard mapping (google/rpc/code.proto documents each code's HTTP
 * equivalent), and the error body, which is google.rpc.Status in JSON: `{code, message, details}`
 * with `code` the gRPC code number and each detail an Any (`@type` plus its fields, or `value` in
 * base64 when the gateway does not know the type).
 */
import { type Registry, toJson } from '@bufbuild/protobuf';
import { base64Encode } from '@bufbuild/protobuf/wire';
import { Code, ConnectError } from '@connectrpc/connect';
import type { ServerResponse } from 'node:http';

const HTTP_STATUS: Readonly<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/** An error the gateway itself raises whose HTTP status is not the code's usual one (413). */
export class GatewayHttpError extends ConnectError {
  constructor(
    message: string,
    code: Code,
    readonly httpStatus: number,
  ) {
    super(message, code);
  }
}

export function httpStatus(code: Code): number {
  return HTTP_STATUS[code] ?? 500;
}

export interface ErrorBody {
  readonly code: number;
  readonly message: string;
  readonly details: unknown[];
}

/** The google.rpc.Status JSON of an error; details are decoded with `registry` when it knows them. */
export function errorBody(err: ConnectError, registry: Registry | undefined): ErrorBody {
  const details = err.details.map((d): unknown => {
    if ('desc' in d) {
      return {
        '@type': `type.googleapis.com/${d.desc.typeName}`,
        ...(toJson(d.desc, d.value as never) as object),
      };
    }
    const desc = registry?.getMessage(d.type);
    if (desc !== undefined) {
      try {
        const decoded = err.findDetails(desc)[0];
        if (decoded !== undefined)
          return {
            '@type': `type.googleapis.com/${d.type}`,
            ...(toJson(desc, decoded, { registry }) as object),
          };
      } catch {
        // Undecodable detail bytes are passed on as they came.
      }
    }
    return { '@type': `type.googleapis.com/${d.type}`, value: base64Encode(d.value) };
  });
  return { code: err.code, message: err.rawMessage, details };
}

/** Answers with the error, unless the response is already under way (then it is cut). Never throws. */
export function replyError(res: ServerResponse, e: unknown, registry?: Registry, headers?: Headers): void {
  try {
    writeError(res, ConnectError.from(e), registry, headers);
  } catch {
    res.destroy();
  }
}

function writeError(res: ServerResponse, err: ConnectError, registry?: Registry, headers?: Headers): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(err, registry));
  // Not instanceof: ConnectError's Symbol.hasInstance takes any ConnectError for a subclass.
  const own = (err as Partial<GatewayHttpError>).httpStatus;
  res.statusCode = typeof own === 'number' ? own : httpStatus(err.code);
  if (headers !== undefined) for (const [k, v] of headers) res.setHeader(k, v);
  // An unread body (too large, or not read after an early error) must not be parsed as the next request.
  if (res.req !== undefined && !res.req.complete) res.setHeader('connection', 'close');
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
