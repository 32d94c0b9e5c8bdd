/**
 * The one configuration schema: defaults, validation, environment-variable names and the
 * documentation (docs/configuration.md, --help) all come from here.
 */
import { z } from 'zod';
import { compilePermission, parseHash, RABBIT_HASHING, type RabbitHashing } from '../auth/index.js';

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

/** A RabbitMQ permission expression: a regular expression, '' for nothing. */
const permissionExpr = z.string().refine(
  (e) => {
    try {
      compilePermission(e);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid regular expression' },
);

/** A user: a password, or {password | passwordHash (+ hashingAlgorithm), tags}. */
const userSchema = z.union([
  z.string(),
  z
    .strictObject({
      password: z.string().optional(),
      passwordHash: z.string().optional(),
      hashingAlgorithm: z.enum(Object.keys(RABBIT_HASHING) as [RabbitHashing, ...RabbitHashing[]]).optional(),
      tags: fromEnvList(z.array(z.string())).default([]),
    })
    .superRefine((u, ctx) => {
      if ((u.password === undefined) === (u.passwordHash === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'give exactly one of password and passwordHash' });
        return;
      }
      if (u.passwordHash === undefined) return;
      try {
        parseHash(u.passwordHash, u.hashingAlgorithm);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['passwordHash'], message: (e as Error).message });
      }
    }),
]);

const permissionSchema = z.strictObject({
  user: z.string(),
  vhost: z.string().default('/'),
  configure: permissionExpr,
  write: permissionExpr,
  read: permissionExpr,
});

const topicPermissionSchema = z.strictObject({
  user: z.string(),
  vhost: z.string().default('/'),
  exchange: z.string(),
  write: permissionExpr,
  read: permissionExpr,
});

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
    // Methods browsers may call over gRPC-Web/Connect (docs/gateway.md); none by default.
    grpcWeb: z.array(methodName).default([]),
  })
  .refine((u) => u.protoFiles.length > 0 || u.descriptorSet !== undefined || u.reflection, {
    message: 'an upstream needs protoFiles, a descriptorSet or reflection: true',
  })
  .refine((u) => u.tls === undefined || u.address.startsWith('https:'), {
    message: 'tls applies to https:// addresses only',
  });

export type GatewayUpstreamConfig = z.infer<typeof upstreamSchema>;

export const configSchema = z
  .strictObject({
    host: z.string().default('0.0.0.0'),
    dataDir: z.string().default('./data'),
    amqp: z
      .strictObject({
        port: port.default(5672),
        // TLS (issue 15): used only with the tls section; default 5671 then.
        tlsPort: port.optional(),
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
        // TLS (issue 15): used only with the tls section; default 8883 then.
        tlsPort: port.optional(),
        certLogin: z
          .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
          .default(false),
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
        anonymous: z.enum(['loopback', 'always', 'never']).default('never'),
        // The environment gives 'true' / 'false'.
        payloadPool: z
          .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
          .default(true),
      })
      .prefault({}),
    http: z
      .strictObject({
        port: port.default(8080),
        // TLS (issue 15): used only with the tls section; default 8443 then.
        tlsPort: port.optional(),
        anonymous: z.enum(['loopback', 'always', 'never']).default('never'),
        maxBodySize: z.number().int().min(1).max(536870912).default(16777216),
        sseBuffer: z.number().int().min(1).max(1_000_000).default(1000),
        sseHeartbeat: z.number().int().min(100).max(3_600_000).default(15_000),
        wsMaxPayload: z.number().int().min(64).max(536870912).default(16777216),
        wsPingInterval: z.number().int().min(0).max(3_600_000).default(30_000),
        corsOrigins: fromEnvList(z.array(z.union([z.literal('*'), z.url({ protocol: /^https?$/ })]))).default(
          [],
        ),
        // Browsers and web origins (docs/security.md), the get answer cap (docs/http.md).
        allowedHosts: fromEnvList(
          z.array(z.string().regex(/^(\*|(\*\.)?[A-Za-z0-9._-]+)$/, "a host name, '*.' + a domain, or '*'")),
        ).default([]),
        getMaxBytes: z.number().int().min(1024).max(536870912).default(16777216),
      })
      .prefault({}),
    grpc: z
      .strictObject({
        port: port.default(50051),
        // TLS (issue 15): used only with the tls section; default 50052 then.
        tlsPort: port.optional(),
        anonymous: z.enum(['loopback', 'always', 'never']).default('never'),
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
    gateway: z
      .strictObject({
        upstreams: fromEnvJson(z.array(upstreamSchema)).default([]),
        forwardHeaders: fromEnvList(z.array(headerName)).default(['authorization', 'x-request-id']),
        returnHeaders: fromEnvList(z.array(headerName)).default(['x-request-id']),
        accessLog: z.enum(['off', 'stdout']).default('off'),
        // Upper bound of a client's deadline (docs/gateway.md).
        maxTimeoutMs: z.number().int().min(1).max(86_400_000).default(300_000),
      })
      .prefault({}),
    // GET /metrics (docs/security.md).
    metrics: z
      .strictObject({
        public: z
          .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
          .default(false),
      })
      .prefault({}),
    // Connection, queue and consumer limits (issue 15); 0 = none.
    limits: z
      .strictObject({
        maxConnections: z.number().int().min(0).default(0),
        maxConnectionsPerUser: z.number().int().min(0).default(0),
        maxConnectionsPerVhost: z.number().int().min(0).default(0),
        maxConnectionRate: z.number().int().min(0).default(0),
        maxQueuesPerVhost: z.number().int().min(0).default(0),
        maxConsumersPerConnection: z.number().int().min(0).default(0),
        // Slow consumers (issue 15): what one connection may have waiting to be written.
        maxOutboundBytes: z
          .preprocess(parseSize, z.number().int().min(65536).max(1073741824))
          .default(1048576),
      })
      .prefault({}),
    // Memory alarm (issue 15): a fraction (≤ 1) of the process's memory limit, or bytes.
    memory: z
      .strictObject({
        highWatermark: z.preprocess(parseSize, z.number().min(0)).default(0.4),
        checkInterval: z.number().int().min(10).max(3_600_000).default(1_000),
      })
      .prefault({}),
    // ---- TLS (issue 15) ----
    tls: z
      .strictObject({
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        caFile: z.string().min(1).optional(),
        verifyClients: z.enum(['none', 'optional', 'required']).default('none'),
        minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      })
      .optional(),
    // ---- end TLS ----
    users: fromEnvJson(z.record(z.string(), userSchema)).default({
      guest: { password: 'guest', tags: ['administrator'] },
    }),
    loopbackUsers: z.array(z.string()).default(['guest']),
    permissions: fromEnvJson(z.array(permissionSchema)).optional(),
    topicPermissions: fromEnvJson(z.array(topicPermissionSchema)).default([]),
    auth: z
      .strictObject({
        failureDelay: z.number().int().min(0).max(60_000).default(1000),
      })
      .prefault({}),
    vhosts: z.array(z.string()).min(1).default(['/']),
  })
  .superRefine(checkTls);

export type Config = z.infer<typeof configSchema>;

// ---- TLS (issue 15) ----
/** The TLS ports and their defaults, by config section; on only when the tls section is there. */
export const TLS_PORTS = { amqp: 5671, mqtt: 8883, http: 8443, grpc: 50052 } as const;

/** A TLS port, certificate login or client verification asked for without what it needs. */
function checkTls(
  c: {
    tls?: { caFile?: string | undefined; verifyClients: string } | undefined;
    mqtt: { certLogin: boolean };
  } & Record<keyof typeof TLS_PORTS, { tlsPort?: number | 'off' | undefined }>,
  ctx: z.RefinementCtx,
): void {
  if (c.tls === undefined) {
    for (const section of Object.keys(TLS_PORTS) as (keyof typeof TLS_PORTS)[]) {
      if (typeof c[section].tlsPort === 'number') {
        ctx.addIssue({
          code: 'custom',
          path: [section, 'tlsPort'],
          message: 'a TLS port needs the tls section (certFile and keyFile)',
        });
      }
    }
  } else if (c.tls.verifyClients !== 'none' && c.tls.caFile === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['tls', 'caFile'],
      message: `verifyClients '${c.tls.verifyClients}' needs caFile: the CA that signs client certificates`,
    });
  }
  if (c.mqtt.certLogin && (c.tls === undefined || c.tls.verifyClients === 'none')) {
    ctx.addIssue({
      code: 'custom',
      path: ['mqtt', 'certLogin'],
      message: "certificate login needs tls.verifyClients 'optional' or 'required'",
    });
  }
}
// ---- end TLS ----

export { OPTION_DOCS, type OptionDoc } from './option-docs.js';
