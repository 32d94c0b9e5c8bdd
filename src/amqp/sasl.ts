/**
 * SASL mechanisms offered in connection.start: PLAIN (RFC 4616) and AMQPLAIN (a field table with
 * LOGIN and PASSWORD, sent without the table's length prefix); and EXTERNAL (RFC 4422 appendix A)
 * to a TLS client whose certificate was verified, which logs in as the certificate's CN.
 */
import { decodeTable } from './codec/index.js';

export const MECHANISMS = 'PLAIN AMQPLAIN';

/** Offered first when the client has a verified certificate (RabbitMQ lists it the same way). */
export const MECHANISMS_WITH_EXTERNAL = 'EXTERNAL PLAIN AMQPLAIN';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** Parses a start-ok response; undefined when the mechanism is unknown or the response malformed. */
export function parseCredentials(mechanism: string, response: Buffer): Credentials | undefined {
  if (mechanism === 'PLAIN') {
    // authzid NUL authcid NUL passwd; the authorization identity is ignored, as in RabbitMQ.
    const first = response.indexOf(0);
    const second = first < 0 ? -1 : response.indexOf(0, first + 1);
    if (second < 0) return undefined;
    return {
      user: response.subarray(first + 1, second).toString('utf8'),
      password: response.subarray(second + 1).toString('utf8'),
    };
  }
  if (mechanism === 'AMQPLAIN') {
    const framed = Buffer.allocUnsafe(4 + response.length);
    framed.writeUInt32BE(response.length, 0);
    response.copy(framed, 4);
    try {
      const t = decodeTable(framed, 0).table;
      const user = t.LOGIN;
      const password = t.PASSWORD;
      if (typeof user !== 'string' || typeof password !== 'string') return undefined;
      return { user, password };
    } catch {
      return undefined;
    }
  }
  return undefined;
}
