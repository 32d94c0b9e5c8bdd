/**
 * The one configuration schema: defaults, validation, environment-variable names and the
 * documentation (docs/configuration.md, --help) all come from here.
 */
import { z } from 'zod';

/** A listener port: a number (0 = ephemeral) or 'off'. */
const port = z.union([z.number().int().min(0).max(65535), z.literal('off')]);

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
  store: z
    .strictObject({
      segmentSize: z.number().int().min(65536).max(4294967295).default(67108864),
      diskFreeLimit: z.number().int().min(0).default(50_000_000),
      diskCheckInterval: z.number().int().min(100).max(3_600_000).default(10_000),
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
    doc: "Free bytes on the data directory's disk below which publishers are blocked (AMQP connection.blocked); 0 = off.",
  },
  {
    path: 'store.diskCheckInterval',
    env: 'SWITCHYARD_DISK_CHECK_INTERVAL',
    doc: 'Milliseconds between free-space checks.',
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
