/**
 * One error type for the whole broker. Each error carries a stable code from the catalogue
 * below, and the catalogue maps that code to every protocol's wire code, so a front end never
 * parses a message string to decide what to send (fastify's createError, ws's close codes).
 */

export interface ErrorSpec {
  /** AMQP 0-9-1 reply code. */
  readonly amqp: number;
  /** Whether AMQP treats this as a connection error (hard) rather than a channel error (soft). */
  readonly amqpHard: boolean;
  /** HTTP status for the REST and management APIs. */
  readonly http: number;
  /** gRPC status code number. */
  readonly grpc: number;
  /** MQTT 5 reason code. */
  readonly mqtt: number;
  /**
   * WebSocket close code (RFC 6455 section 7.4.1) when this error ends a WebSocket connection
   * (native /ws protocol, MQTT over WebSocket, the gateway's streams).
   */
  readonly ws: number;
  /** The AMQP reply-text prefix when it differs from the code (RabbitMQ's constant names). */
  readonly amqpName?: string;
  readonly doc: string;
}

/** The code catalogue. docs/errors.md is generated from this table (scripts/gen-docs). */
export const ERRORS = {
  NOT_FOUND: {
    amqp: 404,
    amqpHard: false,
    http: 404,
    grpc: 5,
    mqtt: 0x80,
    ws: 1008,
    doc: 'A queue or exchange does not exist.',
  },
  ACCESS_REFUSED: {
    amqp: 403,
    amqpHard: false,
    http: 403,
    grpc: 7,
    mqtt: 0x87,
    ws: 1008,
    doc: 'The operation is not permitted (reserved name, permissions).',
  },
  RESOURCE_LOCKED: {
    amqp: 405,
    amqpHard: false,
    http: 409,
    grpc: 9,
    mqtt: 0x80,
    ws: 1008,
    doc: 'An exclusive queue or consumer belongs to another connection.',
  },
  PRECONDITION_FAILED: {
    amqp: 406,
    amqpHard: false,
    http: 409,
    grpc: 9,
    mqtt: 0x80,
    ws: 1008,
    doc: 'Redeclared with other properties, unknown delivery tag, queue not empty/unused.',
  },
  CONTENT_TOO_LARGE: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 413,
    grpc: 8,
    mqtt: 0x95,
    ws: 1009,
    doc: 'A message is larger than the configured maximum.',
  },
  NAME_TOO_LONG: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 400,
    grpc: 3,
    mqtt: 0x90,
    ws: 1008,
    doc: 'A queue or exchange name, routing key or binding key is longer than 255 bytes (the AMQP limit, kept for every protocol).',
  },
  NO_ROUTE: {
    amqp: 312,
    amqpHard: false,
    http: 404,
    grpc: 5,
    mqtt: 0x10,
    ws: 1008,
    doc: 'A mandatory message could not be routed to any queue.',
  },
  NO_CONSUMERS: {
    amqp: 313,
    amqpHard: false,
    http: 404,
    grpc: 5,
    mqtt: 0x10,
    ws: 1008,
    doc: 'An immediate message could not be delivered.',
  },
  CONNECTION_FORCED: {
    amqp: 320,
    amqpHard: true,
    http: 503,
    grpc: 14,
    mqtt: 0x8b,
    ws: 1001,
    doc: 'The broker closed the connection (shutdown, operator).',
  },
  INVALID_PATH: {
    amqp: 402,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x80,
    ws: 1008,
    doc: 'An invalid virtual host path.',
  },
  FRAME_ERROR: {
    amqp: 501,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x81,
    ws: 1002,
    doc: 'A malformed or oversize frame.',
  },
  SYNTAX_ERROR: {
    amqp: 502,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x81,
    ws: 1007,
    doc: 'A frame with invalid field values.',
  },
  COMMAND_INVALID: {
    amqp: 503,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x82,
    ws: 1002,
    doc: 'An invalid operation in this state.',
  },
  CHANNEL_ERROR: {
    amqp: 504,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x82,
    ws: 1002,
    doc: 'A frame on a channel that is not open.',
  },
  UNEXPECTED_FRAME: {
    amqp: 505,
    amqpHard: true,
    http: 400,
    grpc: 3,
    mqtt: 0x82,
    ws: 1002,
    doc: 'A frame that was not expected at this point.',
  },
  RESOURCE_ERROR: {
    amqp: 506,
    amqpHard: true,
    http: 503,
    grpc: 8,
    mqtt: 0x97,
    ws: 1013,
    doc: 'The broker is out of a resource (limits).',
  },
  NOT_ALLOWED: {
    amqp: 530,
    amqpHard: true,
    http: 403,
    grpc: 7,
    mqtt: 0x87,
    ws: 1008,
    doc: 'Not allowed, e.g. an unknown virtual host.',
  },
  VHOST_ACCESS_REFUSED: {
    amqp: 530,
    amqpHard: true,
    amqpName: 'NOT_ALLOWED',
    http: 403,
    grpc: 7,
    mqtt: 0x87,
    ws: 1008,
    doc: 'The user has no permissions on the virtual host (RabbitMQ: "access to vhost \'/\' refused for user ...").',
  },
  CONNECTION_LIMIT: {
    amqp: 530,
    amqpHard: true,
    amqpName: 'NOT_ALLOWED',
    http: 429,
    grpc: 8,
    mqtt: 0x97,
    ws: 1013,
    doc: 'A connection limit (limits.maxConnections, per user or per vhost) is reached.',
  },
  CONNECTION_RATE: {
    amqp: 530,
    amqpHard: true,
    amqpName: 'NOT_ALLOWED',
    http: 429,
    grpc: 8,
    mqtt: 0x9f,
    ws: 1013,
    doc: 'Too many new connections a second from one address (limits.maxConnectionRate).',
  },
  LIMIT_EXCEEDED: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 429,
    grpc: 8,
    mqtt: 0x97,
    ws: 1008,
    doc: 'A queue or consumer limit (limits.maxQueuesPerVhost, limits.maxConsumersPerConnection) is reached.',
  },
  NOT_IMPLEMENTED: {
    amqp: 540,
    amqpHard: true,
    http: 501,
    grpc: 12,
    mqtt: 0x83,
    ws: 1003,
    doc: 'A method or feature the broker does not implement.',
  },
  INTERNAL_ERROR: {
    amqp: 541,
    amqpHard: true,
    http: 500,
    grpc: 13,
    mqtt: 0x83,
    ws: 1011,
    doc: 'A broker bug; the connection is closed, the broker stays up.',
  },
  AUTHENTICATION_FAILED: {
    amqp: 403,
    amqpHard: true,
    amqpName: 'ACCESS_REFUSED',
    http: 401,
    grpc: 16,
    mqtt: 0x86,
    ws: 1008,
    doc: 'Wrong user name or password, or an unsupported mechanism.',
  },
  INVALID_CONFIG: {
    amqp: 541,
    amqpHard: true,
    http: 500,
    grpc: 3,
    mqtt: 0x83,
    ws: 1011,
    doc: 'The configuration file or a flag is invalid.',
  },
  // ---- raised by the MQTT front end (each carries its MQTT 5 reason code) ----
  MALFORMED_PACKET: {
    amqp: 501,
    amqpHard: true,
    amqpName: 'FRAME_ERROR',
    http: 400,
    grpc: 3,
    mqtt: 0x81,
    ws: 1002,
    doc: 'A packet that does not follow the wire format: a bad length, reserved bits set, a field cut short, ill-formed UTF-8.',
  },
  PROTOCOL_ERROR: {
    amqp: 503,
    amqpHard: true,
    amqpName: 'COMMAND_INVALID',
    http: 400,
    grpc: 3,
    mqtt: 0x82,
    ws: 1002,
    doc: 'A well-formed packet the protocol does not allow at this point or with these values (a second CONNECT, packet identifier 0, a repeated property).',
  },
  UNSUPPORTED_PROTOCOL_VERSION: {
    amqp: 505,
    amqpHard: true,
    amqpName: 'UNEXPECTED_FRAME',
    http: 505,
    grpc: 12,
    mqtt: 0x84,
    ws: 1002,
    doc: 'The client speaks a protocol version the broker does not (MQTT 3.1.1 CONNACK return code 1).',
  },
  CLIENT_ID_INVALID: {
    amqp: 530,
    amqpHard: true,
    amqpName: 'NOT_ALLOWED',
    http: 400,
    grpc: 3,
    mqtt: 0x85,
    ws: 1008,
    doc: 'A client identifier the broker does not accept (too long, or empty without a clean session).',
  },
  BAD_AUTHENTICATION_METHOD: {
    amqp: 403,
    amqpHard: true,
    amqpName: 'ACCESS_REFUSED',
    http: 401,
    grpc: 16,
    mqtt: 0x8c,
    ws: 1008,
    doc: 'An authentication method (MQTT 5 enhanced authentication, an AMQP SASL mechanism) the broker does not support.',
  },
  KEEP_ALIVE_TIMEOUT: {
    amqp: 320,
    amqpHard: true,
    amqpName: 'CONNECTION_FORCED',
    http: 408,
    grpc: 4,
    mqtt: 0x8d,
    ws: 1001,
    doc: 'The client sent nothing for 1.5 times its keep-alive (missed heartbeats): the connection is closed.',
  },
  SESSION_TAKEN_OVER: {
    amqp: 320,
    amqpHard: true,
    amqpName: 'CONNECTION_FORCED',
    http: 409,
    grpc: 10,
    mqtt: 0x8e,
    ws: 1008,
    doc: 'Another connection with the same client identifier took the session over.',
  },
  TOPIC_FILTER_INVALID: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 400,
    grpc: 3,
    mqtt: 0x8f,
    ws: 1008,
    doc: 'A topic filter (subscription) that breaks the topic rules: a misplaced wildcard, a bad shared-subscription name.',
  },
  TOPIC_NAME_INVALID: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 400,
    grpc: 3,
    mqtt: 0x90,
    ws: 1008,
    doc: 'A topic name (publish) that breaks the topic rules: empty, a wildcard in it, U+0000.',
  },
  RECEIVE_MAXIMUM_EXCEEDED: {
    amqp: 506,
    amqpHard: true,
    amqpName: 'RESOURCE_ERROR',
    http: 429,
    grpc: 8,
    mqtt: 0x93,
    ws: 1008,
    doc: 'The client has more unacknowledged QoS 1/2 publishes than its Receive Maximum allows, or no packet identifier is free.',
  },
  TOPIC_ALIAS_INVALID: {
    amqp: 503,
    amqpHard: true,
    amqpName: 'COMMAND_INVALID',
    http: 400,
    grpc: 3,
    mqtt: 0x94,
    ws: 1002,
    doc: 'A topic alias of 0, above the maximum the broker announced, or used before it was set.',
  },
  PACKET_TOO_LARGE: {
    amqp: 501,
    amqpHard: true,
    amqpName: 'FRAME_ERROR',
    http: 413,
    grpc: 8,
    mqtt: 0x95,
    ws: 1009,
    doc: 'A packet larger than the maximum packet size (announced in the CONNACK), or one with too many user properties.',
  },
  PAYLOAD_FORMAT_INVALID: {
    amqp: 406,
    amqpHard: false,
    amqpName: 'PRECONDITION_FAILED',
    http: 400,
    grpc: 3,
    mqtt: 0x99,
    ws: 1007,
    doc: 'A payload that is not UTF-8 although its format indicator says it is.',
  },
  CONSUMER_CANCELLED: {
    amqp: 320,
    amqpHard: true,
    amqpName: 'CONNECTION_FORCED',
    http: 410,
    grpc: 1,
    mqtt: 0x80,
    ws: 1011,
    doc: "A subscription's queue went away under it (deleted by another client), so the subscription cannot go on.",
  },
  STORE_FAILED: {
    amqp: 541,
    amqpHard: true,
    amqpName: 'INTERNAL_ERROR',
    http: 503,
    grpc: 14,
    mqtt: 0x80,
    ws: 1011,
    doc: 'A write the broker had to make durable before acknowledging failed: nothing more is acknowledged on that connection.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The broker's error: a stable code and a readable message; wire codes come from the catalogue. */
export class SwitchyardError extends Error {
  override readonly name = 'SwitchyardError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }

  get spec(): ErrorSpec {
    return ERRORS[this.code];
  }

  /** The AMQP reply text in the form RabbitMQ clients and users match on: `NOT_FOUND - no queue 'q' in vhost '/'`. */
  get amqpText(): string {
    const spec: ErrorSpec = ERRORS[this.code];
    return `${spec.amqpName ?? this.code} - ${this.message}`;
  }
}

export function isSwitchyardError(e: unknown): e is SwitchyardError {
  return e instanceof SwitchyardError;
}

export const notFound = (m: string) => new SwitchyardError('NOT_FOUND', m);
export const accessRefused = (m: string) => new SwitchyardError('ACCESS_REFUSED', m);
export const resourceLocked = (m: string) => new SwitchyardError('RESOURCE_LOCKED', m);
export const preconditionFailed = (m: string) => new SwitchyardError('PRECONDITION_FAILED', m);
export const commandInvalid = (m: string) => new SwitchyardError('COMMAND_INVALID', m);
export const notImplemented = (m: string) => new SwitchyardError('NOT_IMPLEMENTED', m);
