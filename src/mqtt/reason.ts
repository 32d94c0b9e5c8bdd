/**
 * MQTT reason codes (MQTT 5.0 section 2.4) and the 3.1.1 CONNACK return codes, plus the error a
 * handler throws to end a connection with one of them.
 */

import { isSwitchyardError } from '../errors/index.js';

export const Reason = {
  SUCCESS: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  SERVER_SHUTTING_DOWN: 0x8b,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const;

const TEXT: Record<number, string> = {
  0: 'success',
  16: 'no matching subscribers',
  17: 'no subscription existed',
  128: 'unspecified error',
  131: 'implementation specific error',
  135: 'not authorized',
  143: 'topic filter invalid',
  144: 'topic name invalid',
  145: 'packet identifier in use',
  146: 'packet identifier not found',
  151: 'quota exceeded',
  153: 'payload format invalid',
};

/** The Reason String sent with a non-success acknowledgement (MQTT 5). */
export function reasonText(code: number): string {
  return TEXT[code] ?? `reason 0x${code.toString(16)}`;
}

/** MQTT 3.1.1 CONNACK return codes (section 3.2.2.3). */
export const ConnackV3 = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USER_NAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/** The 3.1.1 CONNACK code for a v5 CONNACK reason (3.1.1 has only five). */
export function connackV3(reason: number): number {
  switch (reason) {
    case Reason.SUCCESS:
      return ConnackV3.ACCEPTED;
    case Reason.UNSUPPORTED_PROTOCOL_VERSION:
      return ConnackV3.UNACCEPTABLE_PROTOCOL_VERSION;
    case Reason.CLIENT_IDENTIFIER_NOT_VALID:
      return ConnackV3.IDENTIFIER_REJECTED;
    case Reason.BAD_USER_NAME_OR_PASSWORD:
      return ConnackV3.BAD_USER_NAME_OR_PASSWORD;
    case Reason.NOT_AUTHORIZED:
      return ConnackV3.NOT_AUTHORIZED;
    default:
      return ConnackV3.SERVER_UNAVAILABLE;
  }
}

/**
 * Ends the connection: in v5 a DISCONNECT (or, before CONNACK, a CONNACK) carries `reason` and
 * the message as its Reason String; a 3.1.1 client only sees the socket close.
 */
export class MqttError extends Error {
  constructor(
    readonly reason: number,
    message: string,
  ) {
    super(message);
    this.name = 'MqttError';
  }
}

/** The v5 reason code of a core error (its catalogue's MQTT code). */
export function reasonOf(e: unknown): number {
  return isSwitchyardError(e) ? e.spec.mqtt : Reason.UNSPECIFIED_ERROR;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
