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
  /** For tests: how the message log opens its files (e.g. one whose datasync fails). */
  readonly messageLogOpenFile?: (path: string, flags: string) => Promise<FileHandle>;
}

export async function startServer(
  config: Config,
  version = '0.1.0',
  hooks: ServerHooks = {},
): Promise<RunningServer> {
  const t0 = Date.now();
  const { lock, defs, log, recovered } = await openStores(
    config.dataDir,
    config.store.segmentSize,
    hooks.messageLogOpenFile,
  );
  const store = new LogMessageStore(log);
  const tracing = startTracing(config.tracing);
  const broker = new Broker({
    ...(tracing === undefined ? {} : { tracer: tracing }),
    users: config.users,
    loopbackUsers: config.loopbackUsers,
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
    alarms.stop();
    await log.close();
    await defs.close();
    await lock.release();
    await tracing?.shutdown();
  };
  // Every front end is built from the broker and its settings and implements FrontEnd: its own
  // listener where it has one (AMQP, MQTT, native gRPC), its routes on the shared HTTP listener.
  const amqpFrontEnd = new AmqpFrontEnd(broker, {
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
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  const grpcFrontEnd = new GrpcFrontEnd(broker, {
    anonymous: config.grpc.anonymous,
    webAnonymous: config.http.anonymous,
    maxMessageSize: config.grpc.maxMessageSize,
    maxOutboundBytes: config.limits.maxOutboundBytes,
    status: () => alarms.status(),
  });
  const wsFrontEnd = new WsFrontEnd(broker, {
    anonymous: config.http.anonymous,
    maxPayload: config.http.wsMaxPayload,
    pingInterval: config.http.wsPingInterval,
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  const httpFrontEnd = new HttpFrontEnd(broker, {
    anonymous: config.http.anonymous,
    maxBodySize: config.http.maxBodySize,
    sseBuffer: config.http.sseBuffer,
    sseHeartbeat: config.http.sseHeartbeat,
    maxOutboundBytes: config.limits.maxOutboundBytes,
  });
  // A store failure turns the gRPC health service NOT_SERVING (GET /health asks alarms itself).
  alarms.onUnhealthy(() => grpcFrontEnd.unhealthy());
  const frontEnds: readonly FrontEnd[] = [amqpFrontEnd, mqttFrontEnd, grpcFrontEnd, wsFrontEnd, httpFrontEnd];
  const listeners: ListenerInfo[] = [];
  const own = new Map<string, Listening>();
  let http: HttpListener | undefined;
  let gateway: Gateway | undefined;
  const closeListeners = async () => {
    // Listeners stop accepting; each front end closes its connections (telling its clients).
    const stopped = Promise.all(
      [...own.values(), ...(http === undefined ? [] : [http])].map((l) => l.close()),
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
    if (config.http.port !== 'off') {
      const write = hooks.accessLog ?? ((line: string) => process.stdout.write(line));
      gateway = await Gateway.start(config.gateway, {
        maxBodySize: config.http.maxBodySize,
        wsMaxPayload: config.http.wsMaxPayload,
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
        metricsHandler(gateway, () => alarmMetrics(alarms.status()) + outboundMetrics(frontEnds)),
        healthHandler(alarms),
        httpFrontEnd.http.handle,
        ...(gateway === undefined ? [] : [gateway.handle]),
        grpcFrontEnd.http.handle,
      ];
      http = await listenHttp(config.host, config.http.port, upgrades, handlers);
      listeners.push({ protocol: 'http', host: http.address.address, port: http.address.port });
    }
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
