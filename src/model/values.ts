/**
 * The value types of a message's properties, shared by the core and the store (which persists
 * header tables in definitions): they live below both, and import nothing of either.
 */

/** A header value. Integers that fit 32 bits, 64-bit integers (bigint), floats, strings, bytes, nested tables. */
export type HeaderValue =
  | string
  | number
  | bigint
  | boolean
  | Buffer
  | Date
  | Decimal
  | null
  | HeaderValue[]
  | HeaderTable;

export interface HeaderTable {
  [key: string]: HeaderValue;
}

/** An AMQP-style decimal: value * 10^-scale. */
export class Decimal {
  constructor(
    readonly scale: number,
    readonly value: number,
  ) {}
}

/** Message properties, named as in AMQP's basic class (the richest of our protocols). */
export interface Properties {
  contentType?: string;
  contentEncoding?: string;
  headers?: HeaderTable;
  /** 1 = transient, 2 = persistent. */
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  /** Per-message TTL in milliseconds, as a decimal string (AMQP's convention). */
  expiration?: string;
  messageId?: string;
  /** Seconds since the epoch. */
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

/**
 * A front end's codec for properties in its own wire form. `format` names the form; a consumer of
 * the same form may copy the encoded bytes to its wire as they are.
 */
export interface PropertiesCodec {
  readonly format: string;
  decode(bytes: Buffer): Properties;
  /** Whether the encoded properties carry a user id, without decoding them (absent: decode to see). */
  hasUserId?(bytes: Buffer): boolean;
}
