/**
 * The composition root: config → core → front ends. Owns the listeners and the shutdown order.
 */
import { mkdirSync } from 'node:fs';
import { listenAmqp, type AmqpListener } from '../amqp/listener.js';
import type { Config } from '../config/schema.js';
import { AMQP_PROPERTIES_CODEC } from '../amqp/codec/index.js';
import { Broker, registerPropertiesCodec } from '../core/index.js';

// Stored messages keep their properties in the wire form they came in; the core rebuilds them
// with that form's codec (paging, recovery), whether or not its listener is on.
registerPropertiesCodec(AMQP_PROPERTIES_CODEC);

export interface ListenerInfo {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
}

export interface RunningServer {
  readonly broker: Broker;
  readonly listeners: readonly ListenerInfo[];
  /** The AMQP listener, when enabled. */
  readonly amqp: AmqpListener | undefined;
  /** Graceful shutdown: stop accepting, close every connection, release the core. */
  close(): Promise<void>;
}

export async function startServer(config: Config, version = '0.1.0'): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true });
  const broker = new Broker({
    users: config.users,
    loopbackUsers: config.loopbackUsers,
    vhosts: config.vhosts,
  });
  const listeners: ListenerInfo[] = [];
  let amqp: AmqpListener | undefined;
  if (config.amqp.port !== 'off') {
    amqp = await listenAmqp(broker, config.host, config.amqp.port, {
      frameMax: config.amqp.frameMax,
      channelMax: config.amqp.channelMax,
      heartbeat: config.amqp.heartbeat,
      maxMessageSize: config.amqp.maxMessageSize,
      handshakeTimeout: config.amqp.handshakeTimeout,
      version,
    });
    listeners.push({ protocol: 'amqp', host: amqp.address.address, port: amqp.address.port });
  }
  let closing: Promise<void> | undefined;
  return {
    broker,
    listeners,
    amqp,
    close: () => {
      closing ??= (async () => {
        await amqp?.close();
        broker.closeAll();
      })();
      return closing;
    },
  };
}
