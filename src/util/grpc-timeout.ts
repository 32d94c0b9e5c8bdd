/**
 * The `grpc-timeout` request header (gRPC over HTTP/2, "Requests": Timeout → TimeoutValue
 * TimeoutUnit, a positive integer of at most 8 digits and one of H M S m u n), read in one place
 * for the gRPC front end's native calls and the gateway's upstream deadlines.
 */

/** Milliseconds per unit. */
const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

const TIMEOUT = /^(\d{1,8})([HMSmun])$/;

/** The timeout in milliseconds (fractions kept: `500u` is 0.5); NaN when `v` is not one. */
export function grpcTimeoutMs(v: string): number {
  const m = TIMEOUT.exec(v);
  if (m === null) return Number.NaN;
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}
