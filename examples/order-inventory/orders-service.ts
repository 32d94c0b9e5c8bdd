/**
 * The Order service: PlaceOrder takes the items out of stock through Inventory.UpdateStock (a gRPC
 * client with a deadline, retries, logging, metrics and trace context), then announces the order
 * as an `order.placed` event through Switchyard's own gRPC API, where AMQP, MQTT, WebSocket and
 * SSE subscribers see it. RPC for the command, messaging for the news.
 */
import { randomUUID } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import {
  type Client,
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  type HandlerContext,
} from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  type CallLogEntry,
  CallMetrics,
  loggingInterceptor,
  traceContextInterceptor,
} from '../../src/gateway/interceptors.js';
import {
  type RetryHooks,
  type RetryPolicy,
  retryInterceptor,
  statusCodeName,
} from '../../src/gateway/retry.js';
import { Broker } from '../../src/gen/switchyard/v1/broker_pb.js';
import { Inventory } from '../../src/gen/inventory/v1/inventory_pb.js';
import { type Order, OrderSchema, Orders, type PlaceOrderRequest } from './gen/orders/v1/orders_pb.js';
import { type GrpcServer, serveGrpc } from '../../src/cli/bench/inventory/grpc-server.js';

/** Where order events go: MQTT subscribers see `order/placed`, AMQP binds `order.*` on amq.topic. */
export const ORDER_EXCHANGE = 'amq.topic';
export const ORDER_PLACED = 'order.placed';

/** Deadline of each downstream call, retries included. */
const CALL_TIMEOUT_MS = 2000;

/**
 * UNAVAILABLE means the request may not have reached the server, so it is worth another try,
 * but only for calls that are safe to repeat (see IDEMPOTENT).
 */
export const RETRY_POLICY: RetryPolicy = {
  maxAttempts: 4,
  initialBackoffMs: 50,
  maxBackoffMs: 500,
  backoffMultiplier: 2,
  retryableStatusCodes: [Code.Unavailable],
};

/**
 * UpdateStock is safe to repeat only because every call carries the order id as its idempotency
 * key: Inventory applies a key once. Publish is repeated too: the event's message id is the order
 * id, so a consumer that sees it twice can tell.
 */
const IDEMPOTENT = new Set([
  'inventory.v1.Inventory/UpdateStock',
  'inventory.v1.Inventory/GetStock',
  'switchyard.v1.Broker/Publish',
]);

/** The JSON body of an `order.placed` event. */
export interface OrderPlacedEvent {
  readonly id: string;
  readonly sku: string;
  readonly quantity: number;
  readonly customer: string;
  readonly remainingStock: number;
  readonly placedAt: string;
}

type RetryInfo = Parameters<NonNullable<RetryHooks['onRetry']>>[0];

/** The log line of a retry: which call, which attempt comes, after how long, after what. */
export function retryEntry(r: RetryInfo): Record<string, unknown> {
  return {
    service: 'orders',
    retry: r.method,
    attempt: r.attempt,
    delayMs: Math.round(r.delayMs),
    after: statusCodeName(r.error.code),
  };
}

export interface OrdersServiceOptions {
  port?: number;
  host?: string;
  /** The Inventory service, e.g. http://127.0.0.1:50061. */
  inventoryUrl: string;
  /**
   * Switchyard's native gRPC port, e.g. http://127.0.0.1:50051; a function when the broker starts
   * after this service (it is read at the first order).
   */
  brokerGrpcUrl: string | (() => string);
  /** The broker user and password this service publishes as. */
  brokerCredentials: { readonly user: string; readonly password: string };
  /** One entry per downstream call; default: one JSON line on stdout. */
  log?: (entry: CallLogEntry) => void;
  /** Told before each retry of a downstream call; default: one JSON line on stdout. */
  onRetry?: RetryHooks['onRetry'];
}

export interface OrdersService extends GrpcServer {
  /** Downstream call counts and latency, per method. */
  readonly metrics: CallMetrics;
}

export async function startOrdersService(opts: OrdersServiceOptions): Promise<OrdersService> {
  const metrics = new CallMetrics({ labels: { service: 'orders' } });
  const log = opts.log ?? ((e: CallLogEntry) => console.log(JSON.stringify({ service: 'orders', ...e })));
  const onRetry = opts.onRetry ?? ((r: RetryInfo) => console.log(JSON.stringify(retryEntry(r))));
  // The first interceptor is the outermost: logs and metrics see one call however many attempts
  // the retry interceptor inside them makes.
  const interceptors = [
    loggingInterceptor(log),
    metrics.interceptor(),
    traceContextInterceptor(),
    retryInterceptor(RETRY_POLICY, (m) => IDEMPOTENT.has(m), { onRetry }),
  ];
  const inventory = createClient(
    Inventory,
    createGrpcTransport({ baseUrl: opts.inventoryUrl, interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  );
  let brokerClient: Client<typeof Broker> | undefined;
  const broker = (): Client<typeof Broker> =>
    (brokerClient ??= createClient(
      Broker,
      createGrpcTransport({
        baseUrl: typeof opts.brokerGrpcUrl === 'string' ? opts.brokerGrpcUrl : opts.brokerGrpcUrl(),
        interceptors,
        defaultTimeoutMs: CALL_TIMEOUT_MS,
      }),
    ));

  const placeOrder = async (req: PlaceOrderRequest, ctx: HandlerContext): Promise<Order> => {
    if (req.sku === '') throw new ConnectError('sku is required', Code.InvalidArgument);
    if (req.quantity <= 0)
      throw new ConnectError(`quantity must be positive, got ${req.quantity}`, Code.InvalidArgument);
    const id = randomUUID();
    // The caller's trace continues through both downstream calls (and into the event).
    const traceparent = ctx.requestHeader.get('traceparent');
    const headers: Record<string, string> = traceparent === null ? {} : { traceparent };
    // The caller's own deadline, when shorter, bounds ours.
    const call = { headers, signal: ctx.signal };

    const taken = await inventory.updateStock(
      { sku: req.sku, quantity: req.quantity, idempotencyKey: id },
      call,
    );
    const event: OrderPlacedEvent = {
      id,
      sku: req.sku,
      quantity: req.quantity,
      customer: req.customer,
      remainingStock: taken.remaining,
      placedAt: new Date().toISOString(),
    };
    try {
      await broker().publish(
        {
          exchange: ORDER_EXCHANGE,
          routingKey: ORDER_PLACED,
          message: {
            body: new TextEncoder().encode(JSON.stringify(event)),
            contentType: 'application/json',
            messageId: id,
            type: ORDER_PLACED,
            appId: 'orders-service',
            persistent: true,
          },
        },
        {
          ...call,
          headers: {
            ...headers,
            authorization: `Basic ${Buffer.from(`${opts.brokerCredentials.user}:${opts.brokerCredentials.password}`).toString('base64')}`,
          },
        },
      );
    } catch (error) {
      // The stock is taken and stays taken; a real service would write the event to an outbox in
      // the same transaction as the order and publish from there. Here the caller hears about it.
      const e = ConnectError.from(error);
      throw new ConnectError(`order ${id} placed, but its event was not published: ${e.rawMessage}`, e.code);
    }
    return create(OrderSchema, {
      id,
      sku: req.sku,
      quantity: req.quantity,
      customer: req.customer,
      remainingStock: taken.remaining,
    });
  };

  const routes = (router: ConnectRouter): void => {
    router.service(Orders, { placeOrder });
  };
  const server = await serveGrpc({
    routes,
    services: [Orders],
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
  });
  return { ...server, metrics };
}
