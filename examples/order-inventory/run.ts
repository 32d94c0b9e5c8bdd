/**
 * `npm run example:orders`: the Inventory and Order services and a Switchyard broker whose
 * gateway serves both as REST/JSON on the HTTP port. Ports come from the environment (EXAMPLE_*)
 * so the example can run beside another broker; Ctrl-C stops everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/schema.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { type InventoryService, startInventoryService } from '../../src/cli/bench/inventory/service.js';
import { type OrdersService, retryEntry, startOrdersService } from './orders-service.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = join(HERE, 'proto');

export interface ExamplePorts {
  /** Broker HTTP listener: REST, SSE and the gateway. */
  http: number;
  amqp: number;
  mqtt: number;
  /** Broker native gRPC, which the Order service publishes through. */
  grpc: number;
  inventory: number;
  orders: number;
}

export const DEFAULT_PORTS: ExamplePorts = {
  http: 8080,
  amqp: 5672,
  mqtt: 1883,
  grpc: 50051,
  inventory: 50061,
  orders: 50062,
};

export interface RunningExample {
  readonly broker: RunningServer;
  readonly inventory: InventoryService;
  readonly orders: OrdersService;
  /** e.g. http://127.0.0.1:8080 */
  readonly httpUrl: string;
  readonly amqpUrl: string;
  readonly mqttUrl: string;
  close(): Promise<void>;
}

/**
 * The gateway section of the broker's config, in the shape a config file takes
 * (README.md of this folder shows it as YAML).
 */
export function gatewayConfig(inventoryUrl: string, ordersUrl: string) {
  return {
    upstreams: [
      {
        name: 'inventory',
        address: inventoryUrl,
        protoFiles: [join(PROTO_DIR, 'inventory/v1/inventory.proto')],
        importPaths: [PROTO_DIR],
        timeoutMs: 5000,
        retry: {
          maxAttempts: 3,
          initialBackoffMs: 50,
          maxBackoffMs: 1000,
          backoffMultiplier: 2,
          retryableStatusCodes: ['UNAVAILABLE' as const],
        },
        // UpdateStock is not listed: a REST client's call carries no idempotency key by default.
        idempotent: ['inventory.v1.Inventory/GetStock', 'inventory.v1.Inventory/WatchStock'],
        // Browsers may call every method over gRPC-Web and Connect (none by default).
        grpcWeb: ['*'],
      },
      {
        name: 'orders',
        address: ordersUrl,
        protoFiles: [join(PROTO_DIR, 'orders/v1/orders.proto')],
        importPaths: [PROTO_DIR],
        timeoutMs: 5000,
        grpcWeb: ['orders.v1.Orders/PlaceOrder'],
      },
    ],
    forwardHeaders: ['authorization', 'x-request-id'],
    returnHeaders: ['x-request-id'],
  };
}

/** Starts the services, then the broker in front of them; all ports 0 for tests. */
export async function startExample(
  ports: ExamplePorts = DEFAULT_PORTS,
  opts: {
    host?: string;
    dataDir?: string;
    log?: (line: string) => void;
    /** Inventory's stock at start (default SEED_STOCK). */
    seed?: Readonly<Record<string, number>>;
  } = {},
): Promise<RunningExample> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => console.log(line));
  const ownDataDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'switchyard-orders-'));
  const started: { close(): Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    // The broker first, so the gateway stops calling the services before they go.
    for (const s of started.reverse()) await s.close().catch(() => {});
    if (ownDataDir) rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const inventory = await startInventoryService({
      port: ports.inventory,
      host,
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    });
    started.push(inventory);
    let broker: RunningServer | undefined;
    // The gateway needs the Order service's address at start, and the Order service needs the
    // broker only at its first order: so the broker starts last.
    const orders = await startOrdersService({
      port: ports.orders,
      host,
      inventoryUrl: inventory.url,
      brokerGrpcUrl: () => `http://${urlHost(host)}:${broker!.grpc!.address.port}`,
      brokerCredentials: { user: 'guest', password: 'guest' },
      log: (e) => log(JSON.stringify({ service: 'orders', ...e })),
      onRetry: (r) => log(JSON.stringify(retryEntry(r))),
    });
    started.push(orders);
    broker = await startServer(
      configSchema.parse({
        host,
        dataDir,
        amqp: { port: ports.amqp },
        mqtt: { port: ports.mqtt },
        http: { port: ports.http },
        grpc: { port: ports.grpc },
        gateway: gatewayConfig(inventory.url, orders.url),
      }),
    );
    started.push(broker);
    const h = urlHost(host);
    return {
      broker,
      inventory,
      orders,
      httpUrl: `http://${h}:${broker.http!.address.port}`,
      amqpUrl: `amqp://guest:guest@${h}:${broker.amqp!.address.port}`,
      mqttUrl: `mqtt://guest:guest@${h}:${broker.mqtt!.address.port}`,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name}=${raw} is not a port`);
  return n;
}

/** What `npm run example:orders` prints once everything listens. */
export function usage(ex: RunningExample): string {
  const u = ex.httpUrl;
  const mqttPort = new URL(ex.mqttUrl).port;
  return `Order/Inventory example running:
  gateway (REST/JSON) ${u}
  Inventory (gRPC)    ${ex.inventory.url}
  Orders (gRPC)       ${ex.orders.url}
  AMQP ${ex.amqpUrl}   MQTT ${ex.mqttUrl}

Try:
  curl ${u}/v1/stock/widget
  curl -N -H 'Accept: text/event-stream' '${u}/v1/stock:watch'
  curl -X POST ${u}/v1/orders -d '{"sku":"widget","quantity":2,"customer":"ada"}'
  curl -X POST ${u}/v1/orders -d '{"sku":"gadget","quantity":99,"customer":"bob"}'   # 400: not enough stock
  mosquitto_sub -p ${mqttPort} -u guest -P guest -t 'order/placed' -v

Ctrl-C stops everything.`;
}

async function main(): Promise<void> {
  const ports: ExamplePorts = {
    http: portFromEnv('EXAMPLE_HTTP_PORT', DEFAULT_PORTS.http),
    amqp: portFromEnv('EXAMPLE_AMQP_PORT', DEFAULT_PORTS.amqp),
    mqtt: portFromEnv('EXAMPLE_MQTT_PORT', DEFAULT_PORTS.mqtt),
    grpc: portFromEnv('EXAMPLE_GRPC_PORT', DEFAULT_PORTS.grpc),
    inventory: portFromEnv('EXAMPLE_INVENTORY_PORT', DEFAULT_PORTS.inventory),
    orders: portFromEnv('EXAMPLE_ORDERS_PORT', DEFAULT_PORTS.orders),
  };
  const host = process.env.EXAMPLE_HOST ?? '127.0.0.1';
  const ex = await startExample(ports, { host });
  console.log(usage(ex));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping`);
    ex.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
