/**
 * The AMQP 0-9-1 method table, written by hand from amqp0-9-1.xml, plus RabbitMQ's extensions
 * (connection.blocked/unblocked/update-secret, exchange.bind/unbind, basic.nack, confirm.*).
 * Field order is wire order (object key order is insertion order for string keys). Field names are
 * the 0-9-1 XML's in camelCase (`no-wait` → noWait), except connection.close and channel.close,
 * whose `class-id`/`method-id` become `replyClassId`/`replyMethodId` so they do not clash with the
 * method's own ids. exchange.declare keeps `autoDelete` and `internal`, which 0-9-1 renamed to
 * reserved-2/-3 but RabbitMQ (and amqplib, pika…) still use.
 *
 * Reserved fields (`reserved-…` in the 0-9-1 XML: 0-8's ticket, out-of-band, known-hosts…) are
 * typed `reserved-*`: read and dropped on decode, written as 0 / "" / false on encode, and absent
 * from the method objects. The TypeScript union AmqpMethod is derived from this table, so the
 * types, the decoder and the encoder cannot drift apart.
 */

import type { HeaderTable } from '../../core/index.js';

/**
 * Wire types of method fields (spec 4.2.5). `longstr` is text (mechanisms, locales), `bytes` is a
 * longstr kept binary (SASL responses and challenges, secrets), `longlong` is a delivery tag and
 * must be below 2^53.
 */
export type FieldKind =
  | 'bit'
  | 'octet'
  | 'short'
  | 'long'
  | 'longlong'
  | 'shortstr'
  | 'longstr'
  | 'bytes'
  | 'table'
  | 'reserved-bit'
  | 'reserved-short'
  | 'reserved-shortstr'
  | 'reserved-longstr';

export interface MethodSpec {
  readonly classId: number;
  readonly methodId: number;
  /** The spec's `synchronous="1"`: the sender waits for a reply (unless no-wait is set). */
  readonly sync: boolean;
  /** Carries content (header and body frames follow). */
  readonly content: boolean;
  readonly fields: { readonly [name: string]: FieldKind };
}

const NONE = {} as const;

export const METHOD_SPECS = {
  // connection (class 10): spec 1.4
  'connection.start': {
    classId: 10,
    methodId: 10,
    sync: true,
    content: false,
    fields: {
      versionMajor: 'octet',
      versionMinor: 'octet',
      serverProperties: 'table',
      mechanisms: 'longstr',
      locales: 'longstr',
    },
  },
  'connection.start-ok': {
    classId: 10,
    methodId: 11,
    sync: false,
    content: false,
    fields: { clientProperties: 'table', mechanism: 'shortstr', response: 'bytes', locale: 'shortstr' },
  },
  'connection.secure': {
    classId: 10,
    methodId: 20,
    sync: true,
    content: false,
    fields: { challenge: 'bytes' },
  },
  'connection.secure-ok': {
    classId: 10,
    methodId: 21,
    sync: false,
    content: false,
    fields: { response: 'bytes' },
  },
  'connection.tune': {
    classId: 10,
    methodId: 30,
    sync: true,
    content: false,
    fields: { channelMax: 'short', frameMax: 'long', heartbeat: 'short' },
  },
  'connection.tune-ok': {
    classId: 10,
    methodId: 31,
    sync: false,
    content: false,
    fields: { channelMax: 'short', frameMax: 'long', heartbeat: 'short' },
  },
  'connection.open': {
    classId: 10,
    methodId: 40,
    sync: true,
    content: false,
    fields: { virtualHost: 'shortstr', capabilities: 'reserved-shortstr', insist: 'reserved-bit' },
  },
  'connection.open-ok': {
    classId: 10,
    methodId: 41,
    sync: false,
    content: false,
    fields: { knownHosts: 'reserved-shortstr' },
  },
  'connection.close': {
    classId: 10,
    methodId: 50,
    sync: true,
    content: false,
    fields: { replyCode: 'short', replyText: 'shortstr', replyClassId: 'short', replyMethodId: 'short' },
  },
  'connection.close-ok': { classId: 10, methodId: 51, sync: false, content: false, fields: NONE },
  'connection.blocked': {
    classId: 10,
    methodId: 60,
    sync: false,
    content: false,
    fields: { reason: 'shortstr' },
  },
  'connection.unblocked': { classId: 10, methodId: 61, sync: false, content: false, fields: NONE },
  'connection.update-secret': {
    classId: 10,
    methodId: 70,
    sync: true,
    content: false,
    fields: { newSecret: 'bytes', reason: 'shortstr' },
  },
  'connection.update-secret-ok': { classId: 10, methodId: 71, sync: false, content: false, fields: NONE },

  // channel (class 20): spec 1.5
  'channel.open': {
    classId: 20,
    methodId: 10,
    sync: true,
    content: false,
    fields: { outOfBand: 'reserved-shortstr' },
  },
  'channel.open-ok': {
    classId: 20,
    methodId: 11,
    sync: false,
    content: false,
    fields: { channelId: 'reserved-longstr' },
  },
  'channel.flow': { classId: 20, methodId: 20, sync: true, content: false, fields: { active: 'bit' } },
  'channel.flow-ok': { classId: 20, methodId: 21, sync: false, content: false, fields: { active: 'bit' } },
  'channel.close': {
    classId: 20,
    methodId: 40,
    sync: true,
    content: false,
    fields: { replyCode: 'short', replyText: 'shortstr', replyClassId: 'short', replyMethodId: 'short' },
  },
  'channel.close-ok': { classId: 20, methodId: 41, sync: false, content: false, fields: NONE },

  // exchange (class 40): spec 1.6; bind/unbind are RabbitMQ's exchange-to-exchange bindings
  'exchange.declare': {
    classId: 40,
    methodId: 10,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      exchange: 'shortstr',
      type: 'shortstr',
      passive: 'bit',
      durable: 'bit',
      autoDelete: 'bit',
      internal: 'bit',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  'exchange.declare-ok': { classId: 40, methodId: 11, sync: false, content: false, fields: NONE },
  'exchange.delete': {
    classId: 40,
    methodId: 20,
    sync: true,
    content: false,
    fields: { ticket: 'reserved-short', exchange: 'shortstr', ifUnused: 'bit', noWait: 'bit' },
  },
  'exchange.delete-ok': { classId: 40, methodId: 21, sync: false, content: false, fields: NONE },
  'exchange.bind': {
    classId: 40,
    methodId: 30,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      destination: 'shortstr',
      source: 'shortstr',
      routingKey: 'shortstr',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  'exchange.bind-ok': { classId: 40, methodId: 31, sync: false, content: false, fields: NONE },
  'exchange.unbind': {
    classId: 40,
    methodId: 40,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      destination: 'shortstr',
      source: 'shortstr',
      routingKey: 'shortstr',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  // 51, not 41: RabbitMQ's extension numbering.
  'exchange.unbind-ok': { classId: 40, methodId: 51, sync: false, content: false, fields: NONE },

  // queue (class 50): spec 1.7
  'queue.declare': {
    classId: 50,
    methodId: 10,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      queue: 'shortstr',
      passive: 'bit',
      durable: 'bit',
      exclusive: 'bit',
      autoDelete: 'bit',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  'queue.declare-ok': {
    classId: 50,
    methodId: 11,
    sync: false,
    content: false,
    fields: { queue: 'shortstr', messageCount: 'long', consumerCount: 'long' },
  },
  'queue.bind': {
    classId: 50,
    methodId: 20,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      queue: 'shortstr',
      exchange: 'shortstr',
      routingKey: 'shortstr',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  'queue.bind-ok': { classId: 50, methodId: 21, sync: false, content: false, fields: NONE },
  'queue.purge': {
    classId: 50,
    methodId: 30,
    sync: true,
    content: false,
    fields: { ticket: 'reserved-short', queue: 'shortstr', noWait: 'bit' },
  },
  'queue.purge-ok': {
    classId: 50,
    methodId: 31,
    sync: false,
    content: false,
    fields: { messageCount: 'long' },
  },
  'queue.delete': {
    classId: 50,
    methodId: 40,
    sync: true,
    content: false,
    fields: { ticket: 'reserved-short', queue: 'shortstr', ifUnused: 'bit', ifEmpty: 'bit', noWait: 'bit' },
  },
  'queue.delete-ok': {
    classId: 50,
    methodId: 41,
    sync: false,
    content: false,
    fields: { messageCount: 'long' },
  },
  'queue.unbind': {
    classId: 50,
    methodId: 50,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      queue: 'shortstr',
      exchange: 'shortstr',
      routingKey: 'shortstr',
      arguments: 'table',
    },
  },
  'queue.unbind-ok': { classId: 50, methodId: 51, sync: false, content: false, fields: NONE },

  // basic (class 60): spec 1.8; nack is RabbitMQ's extension
  'basic.qos': {
    classId: 60,
    methodId: 10,
    sync: true,
    content: false,
    fields: { prefetchSize: 'long', prefetchCount: 'short', global: 'bit' },
  },
  'basic.qos-ok': { classId: 60, methodId: 11, sync: false, content: false, fields: NONE },
  'basic.consume': {
    classId: 60,
    methodId: 20,
    sync: true,
    content: false,
    fields: {
      ticket: 'reserved-short',
      queue: 'shortstr',
      consumerTag: 'shortstr',
      noLocal: 'bit',
      noAck: 'bit',
      exclusive: 'bit',
      noWait: 'bit',
      arguments: 'table',
    },
  },
  'basic.consume-ok': {
    classId: 60,
    methodId: 21,
    sync: false,
    content: false,
    fields: { consumerTag: 'shortstr' },
  },
  'basic.cancel': {
    classId: 60,
    methodId: 30,
    sync: true,
    content: false,
    fields: { consumerTag: 'shortstr', noWait: 'bit' },
  },
  'basic.cancel-ok': {
    classId: 60,
    methodId: 31,
    sync: false,
    content: false,
    fields: { consumerTag: 'shortstr' },
  },
  'basic.publish': {
    classId: 60,
    methodId: 40,
    sync: false,
    content: true,
    fields: {
      ticket: 'reserved-short',
      exchange: 'shortstr',
      routingKey: 'shortstr',
      mandatory: 'bit',
      immediate: 'bit',
    },
  },
  'basic.return': {
    classId: 60,
    methodId: 50,
    sync: false,
    content: true,
    fields: { replyCode: 'short', replyText: 'shortstr', exchange: 'shortstr', routingKey: 'shortstr' },
  },
  'basic.deliver': {
    classId: 60,
    methodId: 60,
    sync: false,
    content: true,
    fields: {
      consumerTag: 'shortstr',
      deliveryTag: 'longlong',
      redelivered: 'bit',
      exchange: 'shortstr',
      routingKey: 'shortstr',
    },
  },
  'basic.get': {
    classId: 60,
    methodId: 70,
    sync: true,
    content: false,
    fields: { ticket: 'reserved-short', queue: 'shortstr', noAck: 'bit' },
  },
  'basic.get-ok': {
    classId: 60,
    methodId: 71,
    sync: false,
    content: true,
    fields: {
      deliveryTag: 'longlong',
      redelivered: 'bit',
      exchange: 'shortstr',
      routingKey: 'shortstr',
      messageCount: 'long',
    },
  },
  'basic.get-empty': {
    classId: 60,
    methodId: 72,
    sync: false,
    content: false,
    fields: { clusterId: 'reserved-shortstr' },
  },
  'basic.ack': {
    classId: 60,
    methodId: 80,
    sync: false,
    content: false,
    fields: { deliveryTag: 'longlong', multiple: 'bit' },
  },
  'basic.reject': {
    classId: 60,
    methodId: 90,
    sync: false,
    content: false,
    fields: { deliveryTag: 'longlong', requeue: 'bit' },
  },
  'basic.recover-async': {
    classId: 60,
    methodId: 100,
    sync: false,
    content: false,
    fields: { requeue: 'bit' },
  },
  'basic.recover': { classId: 60, methodId: 110, sync: true, content: false, fields: { requeue: 'bit' } },
  'basic.recover-ok': { classId: 60, methodId: 111, sync: false, content: false, fields: NONE },
  'basic.nack': {
    classId: 60,
    methodId: 120,
    sync: false,
    content: false,
    fields: { deliveryTag: 'longlong', multiple: 'bit', requeue: 'bit' },
  },

  // confirm (class 85): RabbitMQ's publisher confirms
  'confirm.select': { classId: 85, methodId: 10, sync: true, content: false, fields: { noWait: 'bit' } },
  'confirm.select-ok': { classId: 85, methodId: 11, sync: false, content: false, fields: NONE },

  // tx (class 90): spec 1.9
  'tx.select': { classId: 90, methodId: 10, sync: true, content: false, fields: NONE },
  'tx.select-ok': { classId: 90, methodId: 11, sync: false, content: false, fields: NONE },
  'tx.commit': { classId: 90, methodId: 20, sync: true, content: false, fields: NONE },
  'tx.commit-ok': { classId: 90, methodId: 21, sync: false, content: false, fields: NONE },
  'tx.rollback': { classId: 90, methodId: 30, sync: true, content: false, fields: NONE },
  'tx.rollback-ok': { classId: 90, methodId: 31, sync: false, content: false, fields: NONE },
} as const satisfies Record<string, MethodSpec>;

type Specs = typeof METHOD_SPECS;

/** 'connection.start', …, 'basic.publish', …: every method name. */
export type MethodKind = keyof Specs;

type ValueOf<K> = K extends 'bit'
  ? boolean
  : K extends 'octet' | 'short' | 'long' | 'longlong'
    ? number
    : K extends 'shortstr' | 'longstr'
      ? string
      : K extends 'bytes'
        ? Buffer
        : K extends 'table'
          ? HeaderTable
          : never;

type FieldsOf<F> = {
  -readonly [N in keyof F as F[N] extends `reserved-${string}` ? never : N]: ValueOf<F[N]>;
};

type Flatten<T> = { [P in keyof T]: T[P] } & {};

type MethodObject<K extends MethodKind> = Flatten<
  {
    kind: K;
    classId: Specs[K]['classId'];
    methodId: Specs[K]['methodId'];
  } & FieldsOf<Specs[K]['fields']>
>;

/** Any AMQP 0-9-1 method, discriminated by `kind`. */
export type AmqpMethod = { [K in MethodKind]: MethodObject<K> }[MethodKind];

/** The method object of one kind: `Method<'basic.publish'>`. */
export type Method<K extends MethodKind> = Extract<AmqpMethod, { kind: K }>;

type MethodInitObject<K extends MethodKind> = Flatten<
  {
    kind: K;
    classId?: Specs[K]['classId'];
    methodId?: Specs[K]['methodId'];
  } & FieldsOf<Specs[K]['fields']>
>;

/**
 * A method to send: like AmqpMethod, but `classId` and `methodId` may be left out (the encoder
 * takes them from `kind`), so `{ kind: 'basic.qos-ok' }` is a complete method. Every AmqpMethod is
 * an AmqpMethodInit, so a decoded method can be sent back as it is.
 */
export type AmqpMethodInit = { [K in MethodKind]: MethodInitObject<K> }[MethodKind];
