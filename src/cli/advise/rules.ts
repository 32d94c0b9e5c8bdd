/**
 * The protocol-choice checklist as data: for each question (criterion) and each answer, a weight
 * and a reason per option. `score.ts` adds the weights up; docs/advise.md renders this table, so
 * the documentation and the advisor cannot drift apart.
 */
import type { Answers } from './answers.js';

/** What the advisor can recommend. The order is also the tie-break order (earlier wins). */
export const OPTIONS = ['grpc', 'amqp', 'mqtt', 'websocket', 'sse', 'stream', 'managed'] as const;
export type OptionId = (typeof OPTIONS)[number];

export interface OptionInfo {
  readonly name: string;
  /** For table headers. */
  readonly short: string;
  /** Whether Switchyard serves it today: only these get a Switchyard config and client snippet. */
  readonly served: boolean;
  /** Where to get it, for the options Switchyard does not serve. */
  readonly elsewhere?: string;
  readonly pitfalls: readonly string[];
}

export const OPTION_INFO: Readonly<Record<OptionId, OptionInfo>> = {
  grpc: {
    short: 'gRPC',
    name: 'gRPC',
    served: true,
    pitfalls: [
      'Browsers cannot speak native gRPC: they need gRPC-Web or Connect (Switchyard serves both on the HTTP port, unary and server streams only) or the gateway (REST/JSON in front of your gRPC services).',
      'Bidirectional streams need HTTP/2 end to end: some proxies and load balancers downgrade to HTTP/1.1 or balance per connection, not per call.',
      'Contracts live in .proto files: plan code generation and backward-compatible field changes.',
      'gRPC is point-to-point: fan-out, queueing and retries after a crash are the broker’s job (publish through Switchyard’s Broker service), not gRPC’s.',
    ],
  },
  amqp: {
    short: 'AMQP',
    name: 'AMQP 0-9-1',
    served: true,
    pitfalls: [
      'AMQP needs broker operations: durable queues to size and watch, users and vhosts, upgrades, disk alarms (store.diskFreeLimit).',
      'Delivery is guaranteed only with publisher confirms and manual consumer acks; the defaults of many clients are fire-and-forget and auto-ack.',
      'An unbounded prefetch or a consumer that never acks grows a backlog in memory: set a prefetch (basic.qos).',
      'No browser client: browsers reach the same queues through Switchyard’s WebSocket, SSE or gRPC-Web front ends.',
    ],
  },
  mqtt: {
    short: 'MQTT',
    name: 'MQTT',
    served: true,
    pitfalls: [
      'QoS costs round trips: QoS 1 adds a PUBACK per message, QoS 2 a four-packet handshake (PUBLISH, PUBREC, PUBREL, PUBCOMP); measured QoS 1 throughput is about a quarter of QoS 0.',
      'Topic filters are the only routing: header-based routing, dead-lettering and per-message TTL need the AMQP side of the broker.',
      'Persistent sessions (clean session off) keep queued messages for offline devices: bound them (mqtt.maxSessionExpiry) or they pile up.',
      'Retained messages keep only the last message per topic: they are not a history.',
    ],
  },
  websocket: {
    short: 'WebSocket',
    name: 'WebSocket',
    served: true,
    pitfalls: [
      'WebSocket itself has no routing, acknowledgement or backpressure: a plain server pushes until the socket buffer grows. Switchyard’s /ws protocol adds exchanges, confirms, manual acks and per-subscription credit; use them.',
      'Connections are long-lived: plan load balancing (sticky sessions are not needed, but draining is), idle timeouts on proxies, and reconnection with resubscription in the client.',
      'Browsers cannot set headers on a WebSocket: authenticate with the auth.<token> subprotocol or a cookie, not an Authorization header.',
    ],
  },
  sse: {
    short: 'HTTP/SSE',
    name: 'HTTP REST + Server-Sent Events',
    served: true,
    pitfalls: [
      'SSE is one-way (server to client): the client sends with separate HTTP requests, each paying HTTP headers (hundreds of bytes) and a request/response round trip.',
      'Polling instead of SSE costs a request per poll and adds up to the polling interval to every message’s latency.',
      'Browsers allow about 6 HTTP/1.1 connections per origin: several EventSource streams in one page need HTTP/2 or one shared stream.',
      'SSE consumers do not acknowledge: a reconnect with Last-Event-ID resumes within the broker’s buffer (http.sseBuffer), not from arbitrary history.',
    ],
  },
  stream: {
    short: 'log',
    name: 'a log / stream queue',
    served: false,
    elsewhere:
      'RabbitMQ streams (x-queue-type: stream), Apache Kafka or Redpanda, or NATS JetStream. Switchyard’s own stream queues are not built yet.',
    pitfalls: [
      'Switchyard has no stream queues yet: run RabbitMQ streams, Kafka/Redpanda or NATS JetStream for the replayable log, and Switchyard beside it for the other protocols.',
      'A log keeps everything until retention removes it: size the disk for the retention period, not for the backlog.',
      'Consumers track their own offsets; ordering holds per partition only, so choose the partition key with care.',
      'Latency is usually in milliseconds (batching, fsync): not the tool for sub-millisecond request/response.',
    ],
  },
  managed: {
    short: 'managed',
    name: 'a managed cloud broker',
    served: false,
    elsewhere:
      'Amazon MQ or CloudAMQP (AMQP), Amazon SQS/SNS, Google Pub/Sub, Azure Service Bus, AWS IoT Core or Azure IoT Hub (MQTT), Confluent Cloud or Amazon MSK (Kafka).',
    pitfalls: [
      'Each provider has its own quotas, message-size limits (often 256 KiB) and per-message pricing: check them against your throughput.',
      'A network hop to the provider’s region adds milliseconds to every message; local development needs an emulator or a self-hosted stand-in (the Switchyard config below).',
      'Proprietary APIs (SQS, Pub/Sub, Service Bus) tie the code to one cloud; the AMQP and MQTT offerings keep it portable.',
    ],
  },
};

/** One cell of the table: how much an answer favours an option, and why. */
export interface Cell {
  readonly weight: number;
  readonly reason: string;
}

export type CriterionKey = keyof Answers;

export interface Criterion {
  readonly key: CriterionKey;
  readonly title: string;
  /** Answer value (booleans as 'yes'/'no'; for `team`, each protocol named) → cells. */
  readonly cases: Readonly<Record<string, Partial<Record<OptionId, Cell>>>>;
}

const c = (weight: number, reason: string): Cell => ({ weight, reason });

/**
 * Weights run from -3 (rules the option out for this answer) to +3 (the reason to pick it).
 * An option missing from a case scores 0 there. Keep every reason a sentence a user can act on.
 */
export const CRITERIA: readonly Criterion[] = [
  {
    key: 'latency',
    title: 'Latency target',
    cases: {
      low: {
        grpc: c(3, 'HTTP/2 with protobuf on one multiplexed connection: the least overhead per call.'),
        websocket: c(3, 'one open connection, a few bytes of framing per message, push without polling.'),
        mqtt: c(1, 'small headers; QoS 1/2 add acknowledgement round trips.'),
        amqp: c(1, 'low on a warm channel; publisher confirms add a round trip.'),
        sse: c(-1, 'every publish is an HTTP request with its headers; push is one-way.'),
        stream: c(-2, 'logs batch and fsync: milliseconds, not microseconds.'),
        managed: c(-2, 'a network hop to the provider’s region on every message.'),
      },
      medium: {
        grpc: c(1, 'comfortably within tens of milliseconds.'),
        websocket: c(1, 'comfortably within tens of milliseconds.'),
        mqtt: c(1, 'comfortably within tens of milliseconds.'),
        amqp: c(1, 'comfortably within tens of milliseconds.'),
        sse: c(1, 'comfortably within tens of milliseconds.'),
      },
      high: {
        stream: c(1, 'seconds are fine, so batching in a log costs nothing.'),
        managed: c(1, 'seconds are fine, so the provider’s extra hop costs nothing.'),
      },
    },
  },
  {
    key: 'throughput',
    title: 'Throughput',
    cases: {
      low: {
        sse: c(1, 'a few messages per second: plain HTTP is the simplest thing that works.'),
        managed: c(1, 'low volume keeps per-message pricing cheap.'),
      },
      medium: {
        grpc: c(1, 'thousands per second on one connection.'),
        amqp: c(1, 'thousands per second on one channel.'),
        mqtt: c(1, 'thousands per second on one connection.'),
        websocket: c(1, 'thousands per second on one connection.'),
        sse: c(1, 'thousands of publishes per second over keep-alive HTTP.'),
      },
      high: {
        amqp: c(2, 'tens of thousands to over 100,000 messages/s per connection without confirms.'),
        mqtt: c(2, 'QoS 0 is the cheapest publish of all; QoS 1/2 cost a round trip each.'),
        websocket: c(2, 'binary frames on one connection: over 100,000 messages/s.'),
        grpc: c(1, 'a bidirectional stream carries many messages per call; unary calls cost more.'),
        stream: c(2, 'append-only logs batch writes and reads: built for volume.'),
        sse: c(-2, 'an HTTP request per publish caps the publish rate.'),
        managed: c(-1, 'throughput quotas and per-message pricing.'),
      },
    },
  },
  {
    key: 'messageSize',
    title: 'Message size',
    cases: {
      small: {
        mqtt: c(1, 'a 2-byte fixed header: the smallest framing.'),
        grpc: c(1, 'protobuf keeps small messages small.'),
        websocket: c(1, '2 to 6 bytes of framing per message.'),
        sse: c(-1, 'HTTP headers and the JSON event envelope outweigh small bodies.'),
      },
      medium: {},
      large: {
        amqp: c(1, 'bodies are split into frames (amqp.frameMax), so large messages do not block a channel.'),
        mqtt: c(-1, 'devices and brokers limit packet sizes, and a message is held whole in memory.'),
        sse: c(-1, 'binary bodies travel base64 in text events: a third larger.'),
        managed: c(-1, 'providers limit message sizes (often 256 KiB).'),
      },
    },
  },
  {
    key: 'persistence',
    title: 'Persistence and replay',
    cases: {
      none: {
        mqtt: c(1, 'QoS 0 with clean sessions keeps nothing: the cheapest path.'),
        websocket: c(1, 'transient push is what it is made for.'),
        grpc: c(1, 'transient calls and streams need no storage.'),
        sse: c(1, 'transient push is what it is made for.'),
        stream: c(-2, 'a log for data nobody keeps is pure overhead.'),
      },
      durable: {
        amqp: c(3, 'durable queues, persistent messages and publisher confirms sent after the fsync.'),
        stream: c(2, 'durable by design, with retention.'),
        managed: c(2, 'the provider runs replicated storage for you.'),
        mqtt: c(1, 'persistent sessions and QoS 1/2 keep messages for offline clients.'),
        sse: c(-1, 'SSE consumers cannot acknowledge; resume covers short disconnects only.'),
      },
      replay: {
        stream: c(3, 'a log keeps messages after they are read; consumers replay from any offset.'),
        managed: c(1, 'managed logs (Confluent, Kinesis, Event Hubs) replay; managed queues do not.'),
        sse: c(0, 'Last-Event-ID resumes within a buffer, but there is no history to replay.'),
        amqp: c(-1, 'queues delete what is acknowledged: no replay (RabbitMQ streams are the log form).'),
        grpc: c(-1, 'calls keep nothing: replay needs a log behind them.'),
        websocket: c(-1, 'the connection keeps nothing: replay needs a log behind it.'),
        mqtt: c(-2, 'a retained message keeps only the last value per topic.'),
      },
    },
  },
  {
    key: 'routing',
    title: 'Routing complexity',
    cases: {
      simple: {
        grpc: c(1, 'point-to-point calls are all it takes.'),
        websocket: c(1, 'one connection per client is all it takes.'),
        sse: c(1, 'one URL per feed is all it takes.'),
      },
      topic: {
        mqtt: c(2, 'hierarchical topics with + and # wildcards.'),
        amqp: c(2, 'topic exchanges with * and # binding keys.'),
        sse: c(1, 'Switchyard’s exchange events take a binding key.'),
        managed: c(1, 'SNS, Pub/Sub and Service Bus topics filter subscriptions.'),
      },
      complex: {
        amqp: c(
          3,
          'direct, topic, fanout and headers exchanges, bindings, alternate exchanges and dead-lettering.',
        ),
        managed: c(1, 'Service Bus and SNS filter rules cover many cases, each in its own dialect.'),
        mqtt: c(-1, 'topic filters are the only routing.'),
        sse: c(-1, 'one binding key per stream; anything richer is server code.'),
        stream: c(-1, 'partitions, not routing: consumers filter what they read.'),
        grpc: c(-2, 'point-to-point calls: routing is your own code.'),
        websocket: c(-2, 'no routing of its own (Switchyard’s /ws reaches its exchanges).'),
      },
    },
  },
  {
    key: 'bidirectional',
    title: 'Bidirectional real-time',
    cases: {
      yes: {
        websocket: c(3, 'full duplex on one connection, from browsers too.'),
        grpc: c(2, 'bidirectional streams, but over HTTP/2 only: not from browsers.'),
        mqtt: c(1, 'publish and subscribe on one connection.'),
        amqp: c(1, 'publish and consume on one connection.'),
        sse: c(-3, 'one-way, server to client: the client answers with separate HTTP requests.'),
        stream: c(-2, 'a log is written and read, not a conversation.'),
        managed: c(-1, 'queue services are polled or pushed over HTTP, not duplex.'),
      },
      no: {
        sse: c(1, 'a one-way feed needs nothing more than HTTP.'),
      },
    },
  },
  {
    key: 'rpc',
    title: 'Service-to-service RPC',
    cases: {
      yes: {
        grpc: c(3, 'typed contracts from .proto, deadlines, status codes, streaming, generated clients.'),
        amqp: c(1, 'request/reply over reply-to and correlation-id works, but is hand-built.'),
        sse: c(1, 'REST/JSON is the universal fallback: larger and slower per call than gRPC.'),
        mqtt: c(-1, 'MQTT 5 request/response exists, but few services use it.'),
        stream: c(-2, 'a log is no place for request/response.'),
        managed: c(-1, 'a queue hop per call adds latency and cost.'),
      },
      no: {},
    },
  },
  {
    key: 'iot',
    title: 'Constrained devices',
    cases: {
      yes: {
        mqtt: c(
          3,
          'built for small devices and flaky links: tiny headers, keep-alive, QoS levels, last will, resumable sessions.',
        ),
        managed: c(1, 'AWS IoT Core and Azure IoT Hub speak MQTT and manage device identities.'),
        websocket: c(-1, 'HTTP upgrade and TLS are heavy for microcontrollers.'),
        sse: c(-1, 'an HTTP stack and a request per publish drain batteries.'),
        amqp: c(-2, 'a chatty handshake and heavy client libraries.'),
        grpc: c(-2, 'the HTTP/2 and protobuf runtime is too big for microcontrollers.'),
        stream: c(-3, 'log clients are far too heavy for devices.'),
      },
      no: {},
    },
  },
  {
    key: 'browser',
    title: 'Browser clients',
    cases: {
      yes: {
        websocket: c(2, 'every browser has it; Switchyard’s /ws adds confirms, acks and credit.'),
        sse: c(2, 'EventSource and fetch: reconnects by itself and passes every proxy.'),
        mqtt: c(0, 'works over WebSocket (/mqtt) with MQTT.js.'),
        grpc: c(-1, 'not native gRPC: browsers need gRPC-Web/Connect or the gateway.'),
        managed: c(-1, 'browsers need a backend or signed URLs in front of it.'),
        stream: c(-2, 'no browser clients: needs a bridge.'),
        amqp: c(-3, 'no browser clients: needs a bridge.'),
      },
      no: {},
    },
  },
  {
    key: 'ordering',
    title: 'Ordering',
    cases: {
      yes: {
        stream: c(2, 'per-partition order, kept for replay.'),
        amqp: c(1, 'FIFO per queue with one consumer (requeues break it).'),
        mqtt: c(1, 'in order per topic and QoS level.'),
        grpc: c(1, 'in order within one stream.'),
        websocket: c(1, 'in order on one connection.'),
        sse: c(1, 'in order on one stream.'),
        managed: c(-1, 'standard queues do not order; FIFO variants cost throughput.'),
      },
      no: {},
    },
  },
  {
    key: 'fanout',
    title: 'Fan-out',
    cases: {
      yes: {
        mqtt: c(2, 'one publish reaches every subscriber of a topic.'),
        amqp: c(2, 'fanout and topic exchanges copy a message to every bound queue.'),
        sse: c(1, 'one stream per subscriber; thousands of streams per process.'),
        websocket: c(1, 'through the broker’s exchanges; the protocol itself has none.'),
        stream: c(1, 'any number of consumer groups read the same log.'),
        managed: c(1, 'SNS, Pub/Sub and Service Bus topics fan out.'),
        grpc: c(-1, 'point-to-point: fan-out is your code or the broker’s Subscribe streams.'),
      },
      no: {},
    },
  },
  {
    key: 'guarantee',
    title: 'Delivery guarantee',
    cases: {
      'at-most-once': {
        mqtt: c(1, 'QoS 0: fire and forget, no acknowledgement traffic.'),
        websocket: c(1, 'auto-ack subscriptions: no acknowledgement traffic.'),
        sse: c(1, 'push and forget.'),
        stream: c(-1, 'a log’s guarantees are wasted on fire-and-forget data.'),
      },
      'at-least-once': {
        amqp: c(2, 'publisher confirms plus manual consumer acks, redelivery on failure.'),
        stream: c(2, 'durable appends plus committed consumer offsets.'),
        mqtt: c(1, 'QoS 1: a PUBACK per message, duplicates possible.'),
        grpc: c(1, 'Switchyard’s Session confirms publishes and takes acks; gRPC alone does not retry.'),
        websocket: c(1, 'Switchyard’s /ws confirms and manual acks (plain WebSocket has neither).'),
        managed: c(1, 'at-least-once is every provider’s default.'),
        sse: c(-1, 'SSE consumers cannot acknowledge.'),
      },
      'exactly-once': {
        mqtt: c(2, 'QoS 2: exactly once between client and broker, at the cost of four packets.'),
        stream: c(2, 'idempotent producers and transactions (Kafka).'),
        amqp: c(1, 'at-least-once plus deduplication by message-id in the consumer.'),
        managed: c(1, 'FIFO queues deduplicate within a window (SQS FIFO, Service Bus).'),
        websocket: c(-1, 'no deduplication: it is yours to build.'),
        sse: c(-2, 'no acknowledgement, so nothing to build exactly-once on.'),
      },
    },
  },
  {
    key: 'team',
    title: 'Team experience',
    cases: {
      grpc: { grpc: c(1, 'the team has run gRPC before: fewer surprises in production.') },
      amqp: { amqp: c(1, 'the team has run AMQP before: fewer surprises in production.') },
      mqtt: { mqtt: c(1, 'the team has run MQTT before: fewer surprises in production.') },
      websocket: { websocket: c(1, 'the team has run WebSocket before: fewer surprises in production.') },
      http: { sse: c(1, 'the team knows HTTP: fewer surprises in production.') },
      kafka: { stream: c(1, 'the team has run Kafka before: fewer surprises in production.') },
      cloud: { managed: c(1, 'the team knows its cloud’s messaging services.') },
    },
  },
  {
    key: 'managed',
    title: 'Managed-service preference',
    cases: {
      yes: {
        managed: c(3, 'nobody on the team has to operate a broker.'),
        amqp: c(
          -1,
          'self-hosted AMQP needs broker operations (or a managed RabbitMQ: Amazon MQ, CloudAMQP).',
        ),
        stream: c(-1, 'self-hosted Kafka is a job of its own.'),
      },
      no: {
        managed: c(-3, 'you prefer to run the broker yourself.'),
      },
    },
  },
];

/** Rules that override or annotate the sum. Applied in this order; the first pin goes first. */
export interface Constraint {
  readonly id: string;
  readonly when: (a: Answers) => boolean;
  /** Put this option first whatever the scores. */
  readonly pin?: OptionId;
  /** A note to attach to this option wherever it ranks. */
  readonly caveat?: { readonly option: OptionId; readonly text: string };
  /** Human description, for docs/advise.md. */
  readonly doc: string;
}

export const CONSTRAINTS: readonly Constraint[] = [
  {
    id: 'managed-first',
    when: (a) => a.managed,
    pin: 'managed',
    doc: 'Managed service preferred: a managed cloud broker ranks first; the Switchyard config and snippet are still given, for the best self-hosted option (local development, or a later move).',
  },
  {
    id: 'iot-mqtt',
    when: (a) => a.iot,
    pin: 'mqtt',
    doc: 'Constrained devices: MQTT ranks first (after a managed broker, if one is preferred); the services behind the devices can still use AMQP, gRPC or HTTP on the same broker.',
  },
  {
    id: 'browser-grpc',
    when: (a) => a.browser,
    caveat: {
      option: 'grpc',
      text: 'Browsers reach gRPC only through gRPC-Web or Connect (Switchyard’s HTTP port; unary and server streams) or through the gateway as REST/JSON: never native gRPC, and no bidirectional streams.',
    },
    doc: 'Browser clients: gRPC is never recommended raw; it carries the note that browsers need gRPC-Web/Connect or the gateway.',
  },
  {
    id: 'stream-not-built',
    when: () => true,
    caveat: {
      option: 'stream',
      text: 'Switchyard has no stream queues yet: use RabbitMQ streams, Kafka/Redpanda or NATS JetStream for the log.',
    },
    doc: 'A log / stream queue always carries the note that Switchyard does not offer one yet, and where to find one.',
  },
];
