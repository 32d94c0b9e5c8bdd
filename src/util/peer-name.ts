/**
 * The identity a TLS client proves with its certificate: the subject common name (CN) of a
 * certificate the listener verified against its CA (tls.caFile), as RabbitMQ's
 * rabbitmq_auth_mechanism_ssl with `ssl_cert_login_from = common_name` takes it.
 */

/** The parts of a TLSSocket read here (an HTTP/2 request's socket is a proxy with the same). */
interface MaybeTls {
  readonly authorized?: boolean;
  getPeerCertificate?(): { readonly subject?: Readonly<Record<string, string | string[] | undefined>> };
}

/**
 * The verified peer certificate's subject CN; undefined for a plain socket, a TLS client without
 * a certificate, one the CA did not verify, or a subject with no CN or more than one.
 */
export function peerCommonName(socket: unknown): string | undefined {
  if (typeof socket !== 'object' || socket === null) return undefined;
  const s = socket as MaybeTls;
  if (s.authorized !== true || typeof s.getPeerCertificate !== 'function') return undefined;
  const cn = s.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/**
 * Whether a certificate's user may log in from an address: the composition root answers from
 * the broker's user table (the user exists; a loopback-only user comes from loopback).
 */
export type UserExists = (user: string, remoteAddress: string) => boolean;
