/**
 * MQTT wire constants (MQTT 5.0 section 2, the same numbers in 3.1.1 where it has them).
 */

/** Control packet types, the high nibble of the first byte (MQTT 5 section 2.1.2). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

export type AckType =
  | typeof PacketType.PUBACK
  | typeof PacketType.PUBREC
  | typeof PacketType.PUBREL
  | typeof PacketType.PUBCOMP;

/** Packet names, by type, for messages. */
export const PACKET_NAMES = [
  'reserved (0)',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
] as const;

/**
 * The flags (low nibble of the first byte) every type but PUBLISH must carry; anything else is
 * malformed [MQTT-2.1.3-1]. PUBREL, SUBSCRIBE and UNSUBSCRIBE have 0b0010 [MQTT-3.6.1-1]
 * [MQTT-3.8.1-1] [MQTT-3.10.1-1], the rest 0.
 */
export function requiredFlags(type: number): number {
  return type === PacketType.PUBREL || type === PacketType.SUBSCRIBE || type === PacketType.UNSUBSCRIBE
    ? 0b0010
    : 0;
}

/** MQTT 5 reason codes (section 2.4) that the broker sends or reads. */
export const Reason = {
  SUCCESS: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  CONTINUE_AUTHENTICATION: 0x18,
  RE_AUTHENTICATE: 0x19,
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
} as const;

/** MQTT 3.1.1 CONNACK return codes (3.1.1 section 3.2.2.3). */
export const ConnackV3 = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USER_NAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/** Reason codes a client may send, by packet (MQTT 5 Tables 3-4, 3-5, 3-6, 3-7, 3-10, 3-11). */
const codes = (...list: number[]): ReadonlySet<number> => new Set(list);
export const CLIENT_REASONS: Readonly<Record<number, ReadonlySet<number>>> = {
  // Table 3-4 and 3-5: 0x10 (No matching subscribers) is the receiver of a PUBLISH's to send,
  // and a client receives PUBLISH only from the server, so a client sends it too.
  [PacketType.PUBACK]: codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  [PacketType.PUBREC]: codes(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99),
  [PacketType.PUBREL]: codes(0x00, 0x92),
  [PacketType.PUBCOMP]: codes(0x00, 0x92),
  // Table 3-10, whole: a client sending a code its "Sent by" column gives the server only (0x8B,
  // say) is sloppy, not harmful, and was always accepted; the code only decides the will.
  [PacketType.DISCONNECT]: codes(
    0x00,
    0x04,
    0x80,
    0x81,
    0x82,
    0x83,
    0x87,
    0x89,
    0x8b,
    0x8d,
    0x8e,
    0x8f,
    0x90,
    0x93,
    0x94,
    0x95,
    0x96,
    0x97,
    0x98,
    0x99,
    0x9a,
    0x9b,
    0x9c,
    0x9d,
    0x9e,
    0x9f,
    0xa0,
    0xa1,
    0xa2,
  ),
  // Table 3-11.
  [PacketType.AUTH]: codes(0x00, 0x18, 0x19),
};

/** Remaining Length and every Variable Byte Integer end at four bytes (MQTT 5 section 1.5.5). */
export const MAX_VARINT = 268_435_455;

/**
 * User Properties one packet may carry. MQTT sets no limit; every one costs an object when
 * decoded, so a packet of small ones (a million fit in 12 MB) would hold the event loop and the
 * heap. The decoder counts them as it goes and refuses the packet past this many.
 */
export const MAX_USER_PROPERTIES = 1024;
