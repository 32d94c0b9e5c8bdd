/**
 * The one message container every protocol converts to and from (DESIGN.md section 1). Its value
 * types (properties, header tables, decimals) are in src/model, below both the core and the store.
 * The body is a Buffer view that is never copied on the hot path. Properties are decoded lazily:
 * a front end may hand over the properties still encoded in its own wire form together with a
 * decoder, and a consumer of the same protocol reuses those bytes untouched.
 */

import type { Properties, PropertiesCodec } from '../model/index.js';

export class Message {
  /** Id in the message store; 0 while the message is not stored. */
  storeId = 0;
  /** Id of the CoreConnection that published it (0 = unknown, e.g. recovered): for no-local. */
  publisher = 0;
  /**
   * When the message expires (ms since the epoch; 0 = never). Set by front ends whose protocol
   * has a per-message lifetime; a consumer's front end drops an expired message at delivery.
   */
  expiresAt = 0;
  /**
   * Whether the message is persistent, when the front end could tell without decoding the
   * properties (AMQP peeks at the delivery-mode byte); undefined = decode to find out.
   */
  persistentHint: boolean | undefined;
  private props: Properties | undefined;
  private encoded: Buffer | undefined;
  private codec: PropertiesCodec | undefined;

  /**
   * @param properties decoded properties, or undefined when `encoded` + `codec` are given
   * @param encoded the properties in `codec`'s wire form (kept, decoded only on demand)
   */
  constructor(
    /** The exchange it was published to. */
    readonly exchange: string,
    /** The routing key it was published with. */
    readonly routingKey: string,
    readonly body: Buffer,
    properties: Properties | undefined,
    encoded?: Buffer,
    codec?: PropertiesCodec,
  ) {
    this.props = properties;
    this.encoded = encoded;
    this.codec = codec;
  }

  /** Decoded properties (decoded once, on first use). */
  get properties(): Properties {
    if (this.props === undefined) {
      this.props =
        this.encoded !== undefined && this.codec !== undefined ? this.codec.decode(this.encoded) : {};
    }
    return this.props;
  }

  /** The user id the publisher put in the properties, if any (decodes only when one is there). */
  get userId(): string | undefined {
    if (this.props === undefined && this.encoded !== undefined && this.codec?.hasUserId !== undefined) {
      if (!this.codec.hasUserId(this.encoded)) return undefined;
    }
    return this.properties.userId;
  }

  /** Replaces the properties; the encoded form is dropped, since it no longer matches. */
  set properties(p: Properties) {
    this.props = p;
    this.encoded = undefined;
    this.codec = undefined;
    this.persistentHint = undefined;
  }

  /** The properties still in `format`'s wire form, if they arrived in it and were not changed. */
  encodedProperties(format: string): Buffer | undefined {
    return this.codec !== undefined && this.codec.format === format ? this.encoded : undefined;
  }

  get persistent(): boolean {
    return this.persistentHint ?? this.properties.deliveryMode === 2;
  }

  /** The properties in the wire form they arrived in, with that form's name, if they are unchanged. */
  get wireProperties(): { readonly format: string; readonly bytes: Buffer } | undefined {
    return this.codec !== undefined && this.encoded !== undefined
      ? { format: this.codec.format, bytes: this.encoded }
      : undefined;
  }
}
