/**
 * The composition root: config → core → front ends. Owns the listeners and the shutdown order.
 */
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AmqpFrontEnd } from '../amqp/index.js';
import type { Config } from '../config/schema.js';
import { Broker, type FrontEnd, type Listening } from '../core/index.js';
import { DefinitionsStore } from '../store/defs/index.js';
import { acquireLock } from '../store/lock.js';
import { MessageLog } from '../store/log/index.js';
import { LogMessageStore } from '../store/message-store.js';
import { MqttFrontEnd } from '../mqtt/index.js';
import { GrpcFrontEnd } from '../grpc/index.js';
import { Gateway } from '../gateway/index.js';
import { HttpFrontEnd } from '../http/index.js';
import { startTracing } from '../observe/tracing.js';
import { WsFrontEnd } from '../ws/index.js';
import { type HttpListener, listenHttp, type UpgradeHandler } from './http.js';
import { corsHandler } from './cors.js';
import { WebOrigins } from '../util/web-origin.js';
// TLS (issue 15)
import { TLS_PORTS } from '../config/schema.js';
import type { UserExists } from '../util/peer-name.js';
import { type ReloadResult, TlsContext, type TlsContextOptions } from './tls.js';
import { alarmMetrics, metricsHandler, outboundMetrics } from './metrics.js';
// Resource alarms and health (issue 15)
import { type AlarmHooks, ResourceAlarms } from './alarms.js';
import { healthHandler } from './health.js';

export interface ListenerInfo {
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
}

/** What start-up recovered from the data directory, for the start-up log. */
export interface RecoveryReport {
  readonly queues: number;
  readonly messages: number;
  readonly corruptRecords: number;
  readonly truncatedBytes: number;
  readonly durationMs: number;
}

export interface RunningServer {
  readonly broker: Broker;
  readonly recovery: RecoveryReport;
  readonly listeners: readonly ListenerInfo[];
  /** The AMQP listener, when enabled. */
  readonly amqp: Listening | undefined;
  readonly mqtt: Listening | undefined;
  readonly http: HttpListener | undefined;
  readonly grpc: Listening | undefined;
  /** The gRPC gateway, when upstreams are configured and the HTTP listener is on. */
  readonly gateway: Gateway | undefined;
  /** The MQTT front end (sessions, retained messages). */
  readonly mqttFrontEnd: MqttFrontEnd;
  // ---- TLS (issue 15): the TLS listeners, when the tls section is set and their port is not off.
  readonly amqps: Listening | undefined;
  readonly mqtts: Listening | undefined;
  readonly https: HttpListener | undefined;
  readonly grpcs: Listening | undefined;
  /** Reads the certificate files again (SIGHUP); undefined without TLS. */
  reloadTls(): ReloadResult | undefined;
  // ---- end TLS
  /** Every front end (AMQP, MQTT, gRPC, WebSocket, HTTP), for their stats(). */
  readonly frontEnds: readonly FrontEnd[];
  /** Resource alarms and health (issue 15): what GET /health and the metrics report. */
  readonly alarms: ResourceAlarms;
  /** Graceful shutdown: stop accepting, close every connection, release the core. */
  close(): Promise<void>;
}

export interface ServerHooks extends AlarmHooks {
  /** Where gateway.accessLog 'stdout' lines go (tests capture them); process.stdout by default. */
  readonly accessLog?: (line: string) => void;
  /** Certificate watching and reload reports (tests poll fast and capture the reports). */
  readonly tls?: TlsContextOptions;
  /** For tests: how the message log opens its files (e.g. one whose datasync fails). */
  readonly messageLogOpenFile?: (path: string, flags: string) => Promise<FileHandle>;
}

export async function startServer(
  config: Config,
  version = '0.1.0',
  hooks: ServerHooks = {},
): Promise<RunningServer> {
  const t0 = Date.now();
  // TLS (issue 15): certificates that do not load stop start-up before the data directory is locked.
  const tls = config.tls === undefined ? undefined : new TlsContext(config.tls, hooks.tls);
  let opened: Awaited<ReturnType<typeof openStores>>;
  try {
    opened = await openStores(config.dataDir, config.store.segmentSize, hooks.messageLogOpenFile);
  } catch (e) {
    tls?.close();
    throw e;
  }
  const { lock, defs, log, recovered } = opened;
  const store = new LogMessageStore(log);
  const tracing = startTracing(config.tracing);
  const broker = new Broker({
    ...(tracing === undefined ? {} : { tracer: tracing }),
    users: config.users,
    loopbackUsers: config.loopbackUsers,
    ...(config.permissions === undefined ? {} : { permissions: config.permissions }),
    topicPermissions: config.topicPermissions,
    failureDelayMs: config.auth.failureDelay,
    limits: {
      maxConnections: config.limits.maxConnections,
      maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
      maxConnectionsPerVhost: config.limits.maxConnectionsPerVhost,
      maxConnectionRate: config.limits.maxConnectionRate,
      maxQueuesPerVhost: config.limits.maxQueuesPerVhost,
      maxConsumersPerConnection: config.limits.maxConsumersPerConnection,
    },
    vhosts: config.vhosts,
    store,
    records: defs,
  });
  const definitions = defs.definitions();
  const orphans = broker.restore(definitions, recovered.queues, recovered.maxId, defs);
  for (const id of orphans) log.deleteQueue(id);
  let messages = 0;
  for (const q of recovered.queues.values()) messages += q.messages.length;
  const recovery: RecoveryReport = {
    queues: definitions.queues.length,
    messages,
    corruptRecords: recovered.corrupt.length,
    truncatedBytes: recovered.truncatedBytes,
    durationMs: Date.now() - t0,
  };
  // Resource alarms (issue 15): above the memory high watermark, below the free disk limit (at
  // least the largest message) or after a store failure, publishers are blocked; consumers go on.
  const alarms = new ResourceAlarms(broker, config, hooks);
  log.onFailed = (err) => alarms.storeFailed('message log', err);
  defs.onFailed = (err) => alarms.storeFailed('definitions store', err);
  const closeStores = async () => {
    tls?.close();
    alarms.stop();
    await log.close();
    await defs.close();
    await lock.release();
    await tracing?.shutdown();
  };
  // TLS (issue 15): a certificate's CN logs in only as a user of the table, from where that user may.
  const userExists: UserExists = (name, addr) =>
    broker.users.has(name) && broker.users.allowedFrom(name, addr);
  // Every front end is built from the broker and its settings and implements FrontEnd: its own
  // listener where it has one (AMQP, MQTT, native gRPC), its routes on the shared HTTP listener.
  const amqpFrontEnd = new AmqpFrontEnd(broker, {
    userExists,
    frameMax: config.amqp.frameMax,
    channelMax: config.amqp.channelMax,
    heartbeat: config.amqp.heartbeat,
    maxMessageSize: config.amqp.maxMessageSize,
    handshakeTimeout: config.amqp.handshakeTimeout,
    maxOutboundBytes: config.limits.maxOutboundBytes,
    version,
  });
  const mqttFrontEnd = new MqttFrontEnd(broker, {
    ...config.mqtt,
    userExists,
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  const grpcFrontEnd = new GrpcFrontEnd(broker, {
    anonymous: config.grpc.anonymous,
    webAnonymous: config.http.anonymous,
    maxMessageSize: config.grpc.maxMessageSize,
    userExists,
    maxOutboundBytes: config.limits.maxOutboundBytes,
    status: () => alarms.status(),
  });
  const wsFrontEnd = new WsFrontEnd(broker, {
    anonymous: config.http.anonymous,
    maxPayload: config.http.wsMaxPayload,
    pingInterval: config.http.wsPingInterval,
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  // Browsers and web origins (docs/security.md): one policy for the listener and the routes.
  const origins = new WebOrigins({
    allowedHosts: config.http.allowedHosts,
    corsOrigins: config.http.corsOrigins,
    listenHost: config.host,
  });
  const httpFrontEnd = new HttpFrontEnd(broker, {
    origins,
    anonymous: config.http.anonymous,
    maxBodySize: config.http.maxBodySize,
    getMaxBytes: config.http.getMaxBytes,
    sseBuffer: config.http.sseBuffer,
    sseHeartbeat: config.http.sseHeartbeat,
    userExists,
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  // A store failure turns the gRPC health service NOT_SERVING (GET /health asks alarms itself).
  alarms.onUnhealthy(() => grpcFrontEnd.unhealthy());
  const frontEnds: readonly FrontEnd[] = [amqpFrontEnd, mqttFrontEnd, grpcFrontEnd, wsFrontEnd, httpFrontEnd];
  const listeners: ListenerInfo[] = [];
  const own = new Map<string, Listening>();
  let http: HttpListener | undefined;
  let https: HttpListener | undefined;
  let gateway: Gateway | undefined;
  const closeListeners = async () => {
    // Listeners stop accepting; each front end closes its connections (telling its clients).
    const stopped = Promise.all(
      [...own.values(), ...[http, https].filter((l) => l !== undefined)].map((l) => l.close()),
    );
    const closed = Promise.all(frontEnds.map((f) => f.close()));
    gateway?.close();
    await Promise.all([stopped, closed]);
  };
  const ports: Record<string, number | 'off'> = {
    amqp: config.amqp.port,
    mqtt: config.mqtt.port,
    grpc: config.grpc.port,
  };
  try {
    for (const fe of frontEnds) {
      const port = ports[fe.protocol];
      if (fe.listen === undefined || port === undefined || port === 'off') continue;
      const l = await fe.listen(config.host, port);
      own.set(fe.protocol, l);
      listeners.push({ protocol: fe.protocol, host: l.address.address, port: l.address.port });
    }
    // ---- TLS (issue 15): AMQPS, MQTTS, gRPC over TLS, on when the tls section is set.
    const tlsPorts: Record<string, number | 'off'> = {
      amqp: config.amqp.tlsPort ?? TLS_PORTS.amqp,
      mqtt: config.mqtt.tlsPort ?? TLS_PORTS.mqtt,
      grpc: config.grpc.tlsPort ?? TLS_PORTS.grpc,
    };
    const httpsPort = tls === undefined ? 'off' : (config.http.tlsPort ?? TLS_PORTS.http);
    for (const fe of tls === undefined ? [] : frontEnds) {
      const port = tlsPorts[fe.protocol];
      if (fe.listen === undefined || port === undefined || port === 'off') continue;
      const l = await fe.listen(config.host, port, tls!.listen);
      own.set(`${fe.protocol}s`, l);
      listeners.push({ protocol: `${fe.protocol}s`, host: l.address.address, port: l.address.port });
    }
    // ---- end TLS
    if (config.http.port !== 'off' || httpsPort !== 'off') {
      const write = hooks.accessLog ?? ((line: string) => process.stdout.write(line));
      gateway = await Gateway.start(config.gateway, {
        maxBodySize: config.http.maxBodySize,
        wsMaxPayload: config.http.wsMaxPayload,
        maxTimeoutMs: config.gateway.maxTimeoutMs,
        ...(config.gateway.accessLog === 'stdout'
          ? { log: (e) => write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`) }
          : {}),
      });
      const upgrades = new Map<string, UpgradeHandler>();
      for (const fe of frontEnds) for (const [path, h] of fe.http?.upgrades ?? []) upgrades.set(path, h);
      // The broker's own paths win over a gateway route at the same path.
      for (const [path, h] of gateway?.upgrades() ?? []) if (!upgrades.has(path)) upgrades.set(path, h);
      // The gateway goes before the gRPC front end, which takes every gRPC-Web content type; the
      // gateway leaves the broker's own services (switchyard.v1, health, reflection) to it.
      const handlers = [
        ...(config.http.corsOrigins.length === 0
          ? []
          : [corsHandler(config.http.corsOrigins, config.gateway.returnHeaders)]),
        metricsHandler(gateway, broker, {
          public: config.metrics.public,
          extra: () => alarmMetrics(alarms.status()) + outboundMetrics(frontEnds),
        }),
        healthHandler(alarms),
        httpFrontEnd.http.handle,
        ...(gateway === undefined ? [] : [gateway.handle]),
        grpcFrontEnd.http.handle,
      ];
      if (config.http.port !== 'off') {
        http = await listenHttp(config.host, config.http.port, upgrades, handlers, origins);
        listeners.push({ protocol: 'http', host: http.address.address, port: http.address.port });
      }
      // TLS (issue 15): the same routes and upgrades over TLS.
      if (httpsPort !== 'off') {
        https = await listenHttp(config.host, httpsPort, upgrades, handlers, origins, tls!.listen);
        listeners.push({ protocol: 'https', host: https.address.address, port: https.address.port });
      }
    }
    tls?.watch();
  } catch (e) {
    await closeListeners();
    await closeStores();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    broker,
    recovery,
    listeners,
    amqp: own.get('amqp'),
    mqtt: own.get('mqtt'),
    http,
    grpc: own.get('grpc'),
    gateway,
    mqttFrontEnd,
    amqps: own.get('amqps'),
    mqtts: own.get('mqtts'),
    https,
    grpcs: own.get('grpcs'),
    reloadTls: () => tls?.reload('signal'),
    frontEnds,
    alarms,
    close: () => {
      // Stop accepting and close connections, then flush what is pending to disk, then unlock.
      closing ??= (async () => {
        await closeListeners();
        broker.closeAll();
        await closeStores();
      })();
      return closing;
    },
  };
}

/** Locks the data directory and opens the definitions and the message log (recovering them). */
async function openStores(
  dataDir: string,
  segmentSize: number,
  openFile: ((path: string, flags: string) => Promise<FileHandle>) | undefined,
) {
  const lock = await acquireLock(dataDir);
  let defs: DefinitionsStore | undefined;
  try {
    defs = await DefinitionsStore.open(join(dataDir, 'definitions'));
    const { log, recovered } = await MessageLog.open(join(dataDir, 'messages'), {
      segmentSize,
      ...(openFile === undefined ? {} : { openFile }),
      onCorrupt: (info) =>
        process.emitWarning(`message log: skipped a damaged record: ${JSON.stringify(info)}`),
    });
    return { lock, defs, log, recovered };
  } catch (e) {
    await defs?.close();
    await lock.release();
    throw e;
  }
}
