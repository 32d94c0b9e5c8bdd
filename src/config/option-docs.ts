/**
 * Every configuration option with its environment variable, flag and text: the source of
 * docs/configuration.md and of the command's --help (the schema itself is in schema.ts).
 */
export interface OptionDoc {
  /** Dotted path in the config file. */
  readonly path: string;
  readonly env: string;
  readonly flag?: string;
  readonly doc: string;
  /** The default as the docs show it, where the schema has none (options of an optional section). */
  readonly defaultText?: string;
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
    doc: "Who may connect over MQTT without a user name (acting as user 'anonymous', which needs permissions like any user): 'never' (default), 'loopback' (clients on this machine; see docs/security.md on why loopback is no boundary) or 'always'.",
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
    doc: "Who may use REST, SSE, the native WebSocket protocol and gRPC-Web/Connect without credentials (acting as user 'anonymous', which needs permissions like any user): 'never' (default), 'loopback' or 'always'.",
  },
  {
    path: 'http.maxBodySize',
    env: 'SWITCHYARD_HTTP_MAX_BODY_SIZE',
    doc: 'Largest REST request body (bytes); larger → 413.',
  },
  {
    path: 'http.getMaxBytes',
    env: 'SWITCHYARD_HTTP_GET_MAX_BYTES',
    doc: 'Largest answer (bytes of JSON) of a REST get: the messages that would make it larger stay in the queue (the first one always goes, whatever its size).',
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
    path: 'http.allowedHosts',
    env: 'SWITCHYARD_HTTP_ALLOWED_HOSTS',
    doc: "Host names (comma list; '*.example.com' = its subdomains) requests and WebSocket upgrades may name in their Host header, against DNS rebinding; localhost, *.localhost, IP addresses and `host` always may. Empty = also any name on connections that arrive on a non-loopback address; '*' = any name everywhere. See docs/security.md.",
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
    doc: "Who may call the native gRPC port without credentials (acting as user 'anonymous'): 'never' (default), 'loopback' or 'always'.",
  },
  {
    path: 'grpc.maxMessageSize',
    env: 'SWITCHYARD_GRPC_MAX_MESSAGE_SIZE',
    doc: 'Largest gRPC message (bytes), either way; larger → RESOURCE_EXHAUSTED.',
  },
  // ---- TLS (issue 15) ----
  {
    path: 'tls.certFile',
    env: 'SWITCHYARD_TLS_CERT_FILE',
    defaultText: '(none: TLS off)',
    doc: 'PEM server certificate (chain) for every TLS listener. With certFile and keyFile set the TLS ports open (amqp.tlsPort, mqtt.tlsPort, http.tlsPort, grpc.tlsPort); without them they are off. The files are read again on SIGHUP and when they change; open connections are kept, and files that do not load leave the previous certificate in use (the reason goes to stderr).',
  },
  {
    path: 'tls.keyFile',
    env: 'SWITCHYARD_TLS_KEY_FILE',
    defaultText: '(none)',
    doc: 'PEM private key of tls.certFile (unencrypted).',
  },
  {
    path: 'tls.caFile',
    env: 'SWITCHYARD_TLS_CA_FILE',
    defaultText: '(none)',
    doc: "PEM CA certificates that client certificates must chain to; needed when tls.verifyClients is not 'none'.",
  },
  {
    path: 'tls.verifyClients',
    env: 'SWITCHYARD_TLS_VERIFY_CLIENTS',
    defaultText: 'none',
    doc: "Client certificates: 'none' (not asked for), 'optional' (asked for; a client without one, or with one tls.caFile does not verify, connects without a certificate identity), 'required' (the handshake fails without a certificate tls.caFile verifies). A verified certificate's subject CN is a user name: AMQP SASL EXTERNAL, MQTT with mqtt.certLogin, and HTTPS/gRPC requests without an Authorization header; the user must exist in `users`.",
  },
  {
    path: 'tls.minVersion',
    env: 'SWITCHYARD_TLS_MIN_VERSION',
    defaultText: 'TLSv1.2',
    doc: "Oldest TLS version accepted: 'TLSv1.2' or 'TLSv1.3'.",
  },
  {
    path: 'amqp.tlsPort',
    env: 'SWITCHYARD_AMQP_TLS_PORT',
    flag: '--amqps-port',
    defaultText: '5671 (with tls)',
    doc: "AMQP 0-9-1 over TLS (AMQPS) port; 0 = ephemeral, 'off' = disabled. Open only when the tls section is set; a number without it is a configuration error. Offers SASL EXTERNAL to a client with a verified certificate.",
  },
  {
    path: 'mqtt.tlsPort',
    env: 'SWITCHYARD_MQTT_TLS_PORT',
    flag: '--mqtts-port',
    defaultText: '8883 (with tls)',
    doc: "MQTT over TLS (MQTTS) port; 0 = ephemeral, 'off' = disabled. Open only when the tls section is set. MQTT over secure WebSocket is /mqtt on the HTTPS listener.",
  },
  {
    path: 'mqtt.certLogin',
    env: 'SWITCHYARD_MQTT_CERT_LOGIN',
    doc: "As RabbitMQ's mqtt.ssl_cert_login: a TLS client with a verified certificate that sends no user name logs in as the certificate's subject CN (which must be a user). Needs tls.verifyClients 'optional' or 'required'.",
  },
  {
    path: 'http.tlsPort',
    env: 'SWITCHYARD_HTTP_TLS_PORT',
    flag: '--https-port',
    defaultText: '8443 (with tls)',
    doc: "HTTPS port: everything the HTTP listener serves (REST, SSE, /ws and /mqtt as secure WebSocket, gRPC-Web and Connect, the gateway, /metrics) over TLS; 0 = ephemeral, 'off' = disabled. Open only when the tls section is set.",
  },
  {
    path: 'grpc.tlsPort',
    env: 'SWITCHYARD_GRPC_TLS_PORT',
    flag: '--grpcs-port',
    defaultText: '50052 (with tls)',
    doc: "Native gRPC over TLS (HTTP/2 negotiated by ALPN h2) port; 0 = ephemeral, 'off' = disabled. Open only when the tls section is set.",
  },
  // ---- end TLS ----
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
    doc: "gRPC services the gateway serves as REST/JSON, SSE/NDJSON streams, WebSocket and gRPC-Web/Connect on the HTTP listener: a list of {name, address (http:// = h2c, https:// = TLS), tls, protoFiles + importPaths, descriptorSet, reflection, timeoutMs, retry, idempotent, grpcWeb (the methods served over gRPC-Web/Connect, 'pkg.Service/Method' or '*'; none by default)} (env: the list as JSON). See docs/gateway.md.",
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
    path: 'gateway.maxTimeoutMs',
    env: 'SWITCHYARD_GATEWAY_MAX_TIMEOUT_MS',
    doc: "Longest deadline (ms) a client may ask for with grpc-timeout, x-timeout or connect-timeout-ms; a longer one is cut to this. The upstreams' own timeoutMs apply when the client asks none.",
  },
  {
    path: 'metrics.public',
    env: 'SWITCHYARD_METRICS_PUBLIC',
    doc: 'GET /metrics without credentials; false (default): it needs the HTTP Basic credentials of a broker user.',
  },
  {
    path: 'limits.maxConnections',
    env: 'SWITCHYARD_LIMITS_MAX_CONNECTIONS',
    doc: 'Most open AMQP, MQTT and native WebSocket connections in all (0 = no limit); one more is refused: AMQP 530 NOT_ALLOWED, MQTT CONNACK 0x97 (3.1.1: 3), WebSocket 429 before the upgrade.',
  },
  {
    path: 'limits.maxConnectionsPerUser',
    env: 'SWITCHYARD_LIMITS_MAX_CONNECTIONS_PER_USER',
    doc: "Most open connections of one user (RabbitMQ's user max-connections); 0 = no limit.",
  },
  {
    path: 'limits.maxConnectionsPerVhost',
    env: 'SWITCHYARD_LIMITS_MAX_CONNECTIONS_PER_VHOST',
    doc: "Most open connections in one vhost (RabbitMQ's vhost max-connections); 0 = no limit.",
  },
  {
    path: 'limits.maxConnectionRate',
    env: 'SWITCHYARD_LIMITS_MAX_CONNECTION_RATE',
    doc: 'Most new connections a second from one source address; more are refused (MQTT 5 CONNACK 0x9F Connection rate exceeded); 0 = no limit.',
  },
  {
    path: 'limits.maxQueuesPerVhost',
    env: 'SWITCHYARD_LIMITS_MAX_QUEUES_PER_VHOST',
    doc: "Most queues in one vhost (RabbitMQ's vhost max-queues), MQTT session and server-named queues included; one more is refused with AMQP 406 PRECONDITION_FAILED, gRPC RESOURCE_EXHAUSTED, HTTP 429, MQTT 5 SUBACK 0x97; 0 = no limit.",
  },
  {
    path: 'limits.maxConsumersPerConnection',
    env: 'SWITCHYARD_LIMITS_MAX_CONSUMERS_PER_CONNECTION',
    doc: 'Most consumers one connection may have open (AMQP consumers on all its channels, MQTT shared subscriptions, WebSocket and gRPC Session subscriptions); 0 = no limit.',
  },
  {
    path: 'users',
    env: 'SWITCHYARD_USERS',
    doc: "Users: name → password, or name → {password | passwordHash (our `switchyard hash-password` form or RabbitMQ's base64 salted hash, with hashingAlgorithm rabbit_password_hashing_sha256 (default), _sha512 or _md5), tags} (env: user:pass,user2:pass2, or the map as JSON). See docs/security.md.",
  },
  {
    path: 'permissions',
    env: 'SWITCHYARD_PERMISSIONS',
    doc: "RabbitMQ's permissions: a list of {user, vhost (default /), configure, write, read} regular expressions (env: the list as JSON). Without a list, guest and anonymous have '.*' on every vhost; a user without an entry for a vhost cannot open it. See docs/security.md.",
  },
  {
    path: 'topicPermissions',
    env: 'SWITCHYARD_TOPIC_PERMISSIONS',
    doc: "RabbitMQ's topic permissions: a list of {user, vhost (default /), exchange, write, read} regular expressions on routing keys (MQTT topics in their routing-key form), with {username}, {vhost} and {client_id} variables (env: the list as JSON).",
  },
  {
    path: 'auth.failureDelay',
    env: 'SWITCHYARD_AUTH_FAILURE_DELAY',
    doc: 'Milliseconds a failed login waits before it is refused; failures from one address are answered one after another (one guess per delay per address), without delaying anyone else.',
  },
  {
    path: 'loopbackUsers',
    env: 'SWITCHYARD_LOOPBACK_USERS',
    doc: 'Users that may connect only from loopback (comma list).',
  },
  { path: 'vhosts', env: 'SWITCHYARD_VHOSTS', doc: 'Virtual hosts (comma list).' },
];
