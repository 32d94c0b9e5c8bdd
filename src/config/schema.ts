/**
 * The one configuration schema: defaults, validation, environment-variable names and the
 * documentation (docs/configuration.md, --help) all come from here.
 */
import { z } from 'zod';

/** A listener port: a number (0 = ephemeral) or 'off'. */
const port = z.union([z.number().int().min(0).max(65535), z.literal('off')]);

/** A lower-case HTTP header name (headers are matched case-insensitively). */
const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9a-zA-Z-]+$/, 'not an HTTP header name')
  .transform((h) => h.toLowerCase());

/** Options given as one environment value: a JSON document. */
function fromEnvJson<T extends z.ZodType>(inner: T) {
  return z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }, inner);
}

/** Lists given as one environment value: comma-separated. */
function fromEnvList<T extends z.ZodType>(inner: T) {
  return z.preprocess((v) => (typeof v === 'string' ? v.split(',').filter((s) => s !== '') : v), inner);
}

// --- memory alarm (issue 15) ---
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** '2GB' (10^9), '512MiB' (2^20) or a plain number: a size in bytes, as RabbitMQ writes them. */
function parseSize(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$/i.exec(v);
  if (m === null) return v;
  // A bare number stays as it is (0.4 is a fraction); a unit makes it whole bytes.
  if (m[2] === undefined) return Number(m[1]);
  return Math.floor(Number(m[1]) * (SIZE_UNITS[m[2].toLowerCase()] ?? Number.NaN));
}
// --- end memory alarm ---

/** A full gRPC method name, `pkg.Service/Method`, or '*' for every method. */
const methodName = z.union([z.literal('*'), z.string().regex(/^[\w.]+\/\w+$/, "not 'pkg.Service/Method'")]);

/** gRPC status code names, as in the gRPC retry policy. */
export const GRPC_CODE_NAMES = [
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const upstreamSchema = z
  .strictObject({
    name: z.string().regex(/^[\w.-]+$/, 'letters, digits, _ . - only'),
    address: z.url({ protocol: /^https?$/ }),
    tls: z
      .strictObject({
        caFile: z.string().optional(),
        serverName: z.string().optional(),
        insecureSkipVerify: z.boolean().default(false),
      })
      .optional(),
    protoFiles: z.array(z.string()).default([]),
    importPaths: z.array(z.string()).default([]),
    descriptorSet: z.string().optional(),
    reflection: z.boolean().default(false),
    timeoutMs: z.number().int().min(1).max(86_400_000).default(10_000),
    retry: z
      .strictObject({
        maxAttempts: z.number().int().min(1).max(10).default(3),
        initialBackoffMs: z.number().int().min(1).max(3_600_000).default(50),
        maxBackoffMs: z.number().int().min(1).max(3_600_000).default(1000),
        backoffMultiplier: z.number().min(1).max(100).default(2),
        retryableStatusCodes: z.array(z.enum(GRPC_CODE_NAMES)).min(1).default(['UNAVAILABLE']),
      })
      .optional(),
    idempotent: z.array(methodName).default([]),
  })
  .refine((u) => u.protoFiles.length > 0 || u.descriptorSet !== undefined || u.reflection, {
    message: 'an upstream needs protoFiles, a descriptorSet or reflection: true',
  })
  .refine((u) => u.tls === undefined || u.address.startsWith('https:'), {
    message: 'tls applies to https:// addresses only',
  });

export type GatewayUpstreamConfig = z.infer<typeof upstreamSchema>;

export const configSchema = z.strictObject({
  host: z.string().default('0.0.0.0'),
  dataDir: z.string().default('./data'),
  amqp: z
    .strictObject({
      port: port.default(5672),
      frameMax: z.number().int().min(4096).max(1048576).default(131072),
      channelMax: z.number().int().min(1).max(65535).default(2047),
      heartbeat: z.number().int().min(0).max(65535).default(60),
      maxMessageSize: z.number().int().min(1).max(536870912).default(134217728),
      handshakeTimeout: z.number().int().min(100).max(3_600_000).default(10_000),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      port: port.default(1883),
      exchange: z.string().default('amq.topic'),
      vhost: z.string().default('/'),
      maxPacketSize: z.number().int().min(64).max(268435455).default(67108864),
      maxPacketSizeUnauthenticated: z.number().int().min(64).max(268435455).default(65536),
      receiveMaximum: z.number().int().min(1).max(65535).default(65535),
      maxInflight: z.number().int().min(1).max(65535).default(128),
      topicAliasMaximum: z.number().int().min(0).max(65535).default(100),
      maxKeepAlive: z.number().int().min(0).max(65535).default(0),
      maxSessionExpiry: z.number().int().min(0).max(4294967295).default(4294967295),
      connectTimeout: z.number().int().min(100).max(3_600_000).default(10_000),
      anonymous: z.enum(['loopback', 'always', 'never']).default('loopback'),
      // The environment gives 'true' / 'false'.
      payloadPool: z
        .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
        .default(true),
    })
    .prefault({}),
  http: z
    .strictObject({
      port: port.default(8080),
      anonymous: z.enum(['loopback', 'always', 'never']).default('loopback'),
      maxBodySize: z.number().int().min(1).max(536870912).default(16777216),
      sseBuffer: z.number().int().min(1).max(1_000_000).default(1000),
      sseHeartbeat: z.number().int().min(100).max(3_600_000).default(15_000),
      wsMaxPayload: z.number().int().min(64).max(536870912).default(16777216),
      wsPingInterval: z.number().int().min(0).max(3_600_000).default(30_000),
      corsOrigins: fromEnvList(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ })]))).default(
        [],
      ),
    })
    .prefault({}),
  grpc: z
    .strictObject({
      port: port.default(50051),
      anonymous: z.enum(['loopback', 'always', 'never']).default('loopback'),
      maxMessageSize: z.number().int().min(1024).max(536870912).default(16777216),
    })
    .prefault({}),
  tracing: z
    .strictObject({
      otlpEndpoint: z.union([z.url({ protocol: /^https?$/ }), z.literal('')]).default(''),
      serviceName: z.string().min(1).default('switchyard'),
    })
    .prefault({}),
  store: z
    .strictObject({
      segmentSize: z.number().int().min(65536).max(4294967295).default(67108864),
      diskFreeLimit: z.number().int().min(0).default(50_000_000),
      diskCheckInterval: z.number().int().min(100).max(3_600_000).default(10_000),
    })
    .prefault({}),
  // Slow consumers (issue 15): what one connection may have waiting to be written.
  limits: z
    .strictObject({
      maxOutboundBytes: z.preprocess(parseSize, z.number().int().min(65536).max(1073741824)).default(1048576),
    })
    .prefault({}),
  // Memory alarm (issue 15): a fraction (≤ 1) of the process's memory limit, or bytes.
  memory: z
    .strictObject({
      highWatermark: z.preprocess(parseSize, z.number().min(0)).default(0.4),
      checkInterval: z.number().int().min(10).max(3_600_000).default(1_000),
    })
    .prefault({}),
  gateway: z
    .strictObject({
      upstreams: fromEnvJson(z.array(upstreamSchema)).default([]),
      forwardHeaders: fromEnvList(z.array(headerName)).default(['authorization', 'x-request-id']),
      returnHeaders: fromEnvList(z.array(headerName)).default(['x-request-id']),
      accessLog: z.enum(['off', 'stdout']).default('off'),
    })
    .prefault({}),
  users: z.record(z.string(), z.string()).default({ guest: 'guest' }),
  loopbackUsers: z.array(z.string()).default(['guest']),
  vhosts: z.array(z.string()).min(1).default(['/']),
});

export type Config = z.infer<typeof configSchema>;

export interface OptionDoc {
  /** Dotted path in the config file. */
  readonly path: string;
  readonly env: string;
  readonly flag?: string;
  readonly doc: string;
}

/** Every option with its environment variable and flag; the source of docs/configuration.md. */
export const OPTION_DOCS: readonly OptionDoc[] = [
  { path: 'host', env: 'SWITCHYARD_HOST', flag: '--host', doc: 'Address every listener binds to.' },
  {
    path: 'dataDir',
    env: 'SWITCHYARD_DATA_DIR',
    flag: '--data-dir',
    doc: 'Data directory (created if missing): durable definitions, the message log and the lock file. One broker per directory.',
  },
  {
    path: 'store.segmentSize',
    env: 'SWITCHYARD_STORE_SEGMENT_SIZE',
    doc: 'Message log segment size in bytes; settled segments are deleted, so disk use follows the backlog.',
  },
  {
    path: 'store.diskFreeLimit',
    env: 'SWITCHYARD_DISK_FREE_LIMIT',
    doc: "Free bytes on the data directory's disk below which publishers are blocked on every protocol (AMQP connection.blocked, as for the memory alarm); 0 = off. The limit used is never below the largest message any protocol accepts (the largest of amqp.maxMessageSize, mqtt.maxPacketSize, http.maxBodySize, http.wsMaxPayload and grpc.maxMessageSize: 128 MiB with the defaults), so one message cannot pass the check and fill the disk. A store that fails to write (a full disk, an I/O error) blocks publishers for good and makes every health endpoint report unhealthy until the broker is restarted.",
  },
  {
    path: 'store.diskCheckInterval',
    env: 'SWITCHYARD_DISK_CHECK_INTERVAL',
    doc: 'Milliseconds between free-space checks.',
  },
  {
    path: 'limits.maxOutboundBytes',
    env: 'SWITCHYARD_LIMITS_MAX_OUTBOUND_BYTES',
    doc: "Bytes one connection (an AMQP, MQTT or WebSocket connection, a gRPC stream, an SSE stream) may have waiting to be written to its client. Beyond it, at-most-once deliveries to a queue of the subscriber's own (AMQP no-ack on an exclusive queue, MQTT QoS 0, WebSocket, gRPC and SSE exchange subscriptions without acks or credit) are dropped and counted (each front end's stats, /metrics); everything else waits in its queue, so a client that stops reading costs a bounded buffer (this, plus one message and one write batch). A size such as '4MiB' is read too. See docs/security.md, Slow consumers.",
  },
  {
    path: 'memory.highWatermark',
    env: 'SWITCHYARD_MEMORY_HIGH_WATERMARK',
    doc: "Resident memory at which publishers are blocked on every protocol (AMQP connection.blocked; MQTT, WebSocket and gRPC streams stop being read; HTTP publish 503 with Retry-After; unary gRPC Publish RESOURCE_EXHAUSTED) while consumers go on draining. Up to 1: a fraction of the memory the process may use, the smaller of the machine's and its cgroup's limit (memory.max, v1 memory.limit_in_bytes); above 1, bytes; a size such as '2GB' or '1536MiB' is read too; 0 = off.",
  },
  {
    path: 'memory.checkInterval',
    env: 'SWITCHYARD_MEMORY_CHECK_INTERVAL',
    doc: 'Milliseconds between memory checks (the resident set size, process.memoryUsage.rss()).',
  },
  {
    path: 'amqp.port',
    env: 'SWITCHYARD_AMQP_PORT',
    flag: '--amqp-port',
    doc: "AMQP 0-9-1 port; 0 = ephemeral, 'off' = disabled.",
  },
  {
    path: 'amqp.frameMax',
    env: 'SWITCHYARD_AMQP_FRAME_MAX',
    doc: 'Largest frame (bytes) offered in connection.tune.',
  },
  {
    path: 'amqp.channelMax',
    env: 'SWITCHYARD_AMQP_CHANNEL_MAX',
    doc: 'Most channels per connection offered in connection.tune.',
  },
  {
    path: 'amqp.heartbeat',
    env: 'SWITCHYARD_AMQP_HEARTBEAT',
    doc: 'Heartbeat interval (s) offered in connection.tune; 0 = off.',
  },
  {
    path: 'amqp.maxMessageSize',
    env: 'SWITCHYARD_AMQP_MAX_MESSAGE_SIZE',
    doc: 'Largest message body (bytes); larger publishes are refused with 406 PRECONDITION_FAILED.',
  },
  {
    path: 'mqtt.port',
    env: 'SWITCHYARD_MQTT_PORT',
    flag: '--mqtt-port',
    doc: "MQTT 3.1.1/5.0 over TCP port; 0 = ephemeral, 'off' = disabled. MQTT over WebSocket is served at /mqtt on the HTTP listener.",
  },
  {
    path: 'mqtt.exchange',
    env: 'SWITCHYARD_MQTT_EXCHANGE',
    doc: 'Topic exchange MQTT publishes go to and MQTT subscriptions bind to.',
  },
  {
    path: 'mqtt.vhost',
    env: 'SWITCHYARD_MQTT_VHOST',
    doc: 'Virtual host of MQTT clients.',
  },
  {
    path: 'mqtt.maxPacketSize',
    env: 'SWITCHYARD_MQTT_MAX_PACKET_SIZE',
    doc: 'Largest MQTT packet (bytes) the broker accepts (announced as Maximum Packet Size in a v5 CONNACK); larger packets close the connection (v5 reason 0x95).',
  },
  {
    path: 'mqtt.maxPacketSizeUnauthenticated',
    env: 'SWITCHYARD_MQTT_MAX_PACKET_SIZE_UNAUTHENTICATED',
    doc: "Largest packet (bytes) before a CONNECT is accepted, as RabbitMQ's mqtt.max_packet_size_unauthenticated: a bigger CONNECT closes the connection from its header, before it is read or parsed (over WebSocket, more than this many bytes before the CONNECT is accepted does). The smaller of this and mqtt.maxPacketSize applies.",
  },
  {
    path: 'mqtt.receiveMaximum',
    env: 'SWITCHYARD_MQTT_RECEIVE_MAXIMUM',
    doc: 'QoS 1/2 publishes a v5 client may have unacknowledged towards the broker (Receive Maximum); exceeding it closes the connection (0x93).',
  },
  {
    path: 'mqtt.maxInflight',
    env: 'SWITCHYARD_MQTT_MAX_INFLIGHT',
    doc: "QoS 1/2 deliveries an MQTT 3.1.1 client may have unacknowledged (Mosquitto's max_inflight_messages); an MQTT 5 client's own Receive Maximum applies instead.",
  },
  {
    path: 'mqtt.topicAliasMaximum',
    env: 'SWITCHYARD_MQTT_TOPIC_ALIAS_MAXIMUM',
    doc: 'Topic aliases a v5 client may use towards the broker (Topic Alias Maximum); 0 = none.',
  },
  {
    path: 'mqtt.maxKeepAlive',
    env: 'SWITCHYARD_MQTT_MAX_KEEP_ALIVE',
    doc: 'Upper bound (s) on a client keep-alive; a v5 client asking for more (or for 0) is told the bound as Server Keep Alive; 0 = accept what the client asks.',
  },
  {
    path: 'mqtt.maxSessionExpiry',
    env: 'SWITCHYARD_MQTT_MAX_SESSION_EXPIRY',
    doc: 'Upper bound (s) on a session expiry interval; also the expiry of MQTT 3.1.1 persistent (clean session = 0) sessions. 4294967295 = never expire.',
  },
  {
    path: 'mqtt.connectTimeout',
    env: 'SWITCHYARD_MQTT_CONNECT_TIMEOUT',
    doc: 'Milliseconds a new MQTT connection has to send CONNECT.',
  },
  {
    path: 'mqtt.anonymous',
    env: 'SWITCHYARD_MQTT_ANONYMOUS',
    doc: "Who may connect over MQTT without a user name: 'loopback' (clients on this machine, like the guest user), 'always' or 'never'.",
  },
  {
    path: 'mqtt.payloadPool',
    env: 'SWITCHYARD_MQTT_PAYLOAD_POOL',
    doc: 'Reuse the buffers of large MQTT payloads (16 KiB to 1 MiB) once their one delivery is written, which spares the garbage collector at high rates; false gives every payload a buffer of its own.',
  },
  {
    path: 'http.port',
    env: 'SWITCHYARD_HTTP_PORT',
    flag: '--http-port',
    doc: "HTTP listener port: REST publish/get/ack and SSE under /api/v1, the native WebSocket protocol at /ws, MQTT over WebSocket at /mqtt, gRPC-Web and Connect; 0 = ephemeral, 'off' = disabled.",
  },
  {
    path: 'http.anonymous',
    env: 'SWITCHYARD_HTTP_ANONYMOUS',
    doc: "Who may use REST, SSE, the native WebSocket protocol and gRPC-Web/Connect without credentials (acting as user 'anonymous'): 'loopback', 'always' or 'never'.",
  },
  {
    path: 'http.maxBodySize',
    env: 'SWITCHYARD_HTTP_MAX_BODY_SIZE',
    doc: 'Largest REST request body (bytes); larger → 413.',
  },
  {
    path: 'http.sseBuffer',
    env: 'SWITCHYARD_HTTP_SSE_BUFFER',
    doc: 'Events a resumable (durable-queue) SSE stream may have unwritten; one that falls this far behind stops receiving until it catches up (messages stay in the queue). Other streams are bounded by limits.maxOutboundBytes.',
  },
  {
    path: 'http.sseHeartbeat',
    env: 'SWITCHYARD_HTTP_SSE_HEARTBEAT',
    doc: 'Milliseconds between SSE heartbeat comments.',
  },
  {
    path: 'http.wsMaxPayload',
    env: 'SWITCHYARD_HTTP_WS_MAX_PAYLOAD',
    doc: 'Largest native WebSocket frame (bytes); larger closes the connection with 1009.',
  },
  {
    path: 'http.wsPingInterval',
    env: 'SWITCHYARD_HTTP_WS_PING_INTERVAL',
    doc: 'Milliseconds between server pings on the native WebSocket; a client that misses two is disconnected; 0 = off.',
  },
  {
    path: 'http.corsOrigins',
    env: 'SWITCHYARD_HTTP_CORS_ORIGINS',
    doc: "Browser origins (e.g. https://app.example.com; comma list) allowed to call the HTTP listener cross-origin: REST, SSE, gRPC-Web/Connect and the gateway, with credentials; '*' = any origin, without credentials. Empty = same-origin only.",
  },
  {
    path: 'grpc.port',
    env: 'SWITCHYARD_GRPC_PORT',
    flag: '--grpc-port',
    doc: "Native gRPC (h2c) port; 0 = ephemeral, 'off' = disabled. gRPC-Web and Connect are served on the HTTP listener.",
  },
  {
    path: 'grpc.anonymous',
    env: 'SWITCHYARD_GRPC_ANONYMOUS',
    doc: "Who may call the native gRPC port without credentials: 'loopback', 'always' or 'never'.",
  },
  {
    path: 'grpc.maxMessageSize',
    env: 'SWITCHYARD_GRPC_MAX_MESSAGE_SIZE',
    doc: 'Largest gRPC message (bytes), either way; larger → RESOURCE_EXHAUSTED.',
  },
  {
    path: 'tracing.otlpEndpoint',
    env: 'SWITCHYARD_TRACING_OTLP_ENDPOINT',
    doc: "OTLP/HTTP (protobuf) traces URL, e.g. http://127.0.0.1:4318/v1/traces: the broker then records publish, route and deliver spans as children of each message's traceparent; '' = no spans.",
  },
  {
    path: 'tracing.serviceName',
    env: 'SWITCHYARD_TRACING_SERVICE_NAME',
    doc: 'service.name of the spans the broker records.',
  },
  {
    path: 'gateway.upstreams',
    env: 'SWITCHYARD_GATEWAY_UPSTREAMS',
    doc: 'gRPC services the gateway serves as REST/JSON, SSE/NDJSON streams, WebSocket and gRPC-Web/Connect on the HTTP listener: a list of {name, address (http:// = h2c, https:// = TLS), tls, protoFiles + importPaths, descriptorSet, reflection, timeoutMs, retry, idempotent} (env: the list as JSON). See docs/gateway.md.',
  },
  {
    path: 'gateway.forwardHeaders',
    env: 'SWITCHYARD_GATEWAY_FORWARD_HEADERS',
    doc: 'HTTP request headers the gateway passes to upstreams as gRPC metadata (comma list); traceparent and tracestate always pass.',
  },
  {
    path: 'gateway.returnHeaders',
    env: 'SWITCHYARD_GATEWAY_RETURN_HEADERS',
    doc: 'Upstream response headers and trailers the gateway returns as HTTP headers (comma list); grpc-* never.',
  },
  {
    path: 'gateway.accessLog',
    env: 'SWITCHYARD_GATEWAY_ACCESS_LOG',
    doc: "'stdout': one JSON line per finished upstream call (time, upstream, method, status, duration, messages, error); 'off': none. Per-method counts and latencies are always at GET /metrics.",
  },
  {
    path: 'users',
    env: 'SWITCHYARD_USERS',
    doc: 'Users and passwords (YAML map; env: user:pass,user2:pass2).',
  },
  {
    path: 'loopbackUsers',
    env: 'SWITCHYARD_LOOPBACK_USERS',
    doc: 'Users that may connect only from loopback (comma list).',
  },
  { path: 'vhosts', env: 'SWITCHYARD_VHOSTS', doc: 'Virtual hosts (comma list).' },
];
