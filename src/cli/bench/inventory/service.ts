/**
 * The Inventory service (examples/order-inventory, and the upstream of `switchyard bench`'s RPC
 * rows, hence in src/): stock per SKU in memory, over native gRPC. UpdateStock never lets stock
 * go below zero (FAILED_PRECONDITION, stock unchanged), and remembers the result of each
 * idempotency key so that a retried call takes the items only once.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from '@connectrpc/connect';
import {
  type GetStockRequest,
  Inventory,
  type OrderItem,
  type StockLevel,
  StockLevelSchema,
  type UpdateResponse,
  UpdateResponseSchema,
  type WatchStockRequest,
} from '../../../gen/inventory/v1/inventory_pb.js';
import { type GrpcServer, serveGrpc } from './grpc-server.js';

/** What a fresh Inventory holds, so the README's curl lines work out of the box. */
export const SEED_STOCK: Readonly<Record<string, number>> = { widget: 10, gadget: 3, gizmo: 0 };

/** Idempotency keys remembered; the oldest is forgotten first. */
const MAX_KEYS = 10_000;
/** Changes a watcher may fall behind by before its stream is ended (RESOURCE_EXHAUSTED). */
const MAX_PENDING_CHANGES = 1000;

interface Taken {
  readonly sku: string;
  readonly quantity: number;
  readonly remaining: number;
}

export class StockBook {
  private readonly stock: Map<string, number>;
  private readonly watchers = new Set<(sku: string, quantity: number) => void>();
  private readonly byKey = new Map<string, Taken>();

  constructor(seed: Readonly<Record<string, number>> = SEED_STOCK) {
    this.stock = new Map(Object.entries(seed));
  }

  /** Takes `quantity` of `sku` out of stock, or throws with the stock unchanged. */
  take(sku: string, quantity: number, idempotencyKey = ''): Taken {
    if (sku === '') throw new ConnectError('sku is required', Code.InvalidArgument);
    if (quantity <= 0)
      throw new ConnectError(`quantity must be positive, got ${quantity}`, Code.InvalidArgument);
    const earlier = idempotencyKey === '' ? undefined : this.byKey.get(idempotencyKey);
    if (earlier !== undefined) {
      if (earlier.sku !== sku || earlier.quantity !== quantity) {
        throw new ConnectError(
          `idempotency key ${idempotencyKey} was used for ${earlier.quantity} x ${earlier.sku}`,
          Code.InvalidArgument,
        );
      }
      return earlier;
    }
    const have = this.level(sku);
    if (have < quantity) {
      throw new ConnectError(
        `only ${have} of ${sku} in stock, ${quantity} requested`,
        Code.FailedPrecondition,
      );
    }
    const remaining = have - quantity;
    this.stock.set(sku, remaining);
    const taken = { sku, quantity, remaining };
    if (idempotencyKey !== '') this.remember(idempotencyKey, taken);
    for (const w of this.watchers) w(sku, remaining);
    return taken;
  }

  /** The stock of a known SKU; NOT_FOUND otherwise. */
  level(sku: string): number {
    const n = this.stock.get(sku);
    if (n === undefined) throw new ConnectError(`unknown sku ${JSON.stringify(sku)}`, Code.NotFound);
    return n;
  }

  /** Every SKU's level, or one SKU's ('' = all). */
  levels(sku: string): [string, number][] {
    return sku === '' ? [...this.stock] : [[sku, this.level(sku)]];
  }

  /** Calls `fn` on every change until the returned function is called. */
  watch(fn: (sku: string, quantity: number) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  private remember(key: string, taken: Taken): void {
    this.byKey.set(key, taken);
    if (this.byKey.size > MAX_KEYS) this.byKey.delete(this.byKey.keys().next().value!);
  }
}

export function inventoryRoutes(book: StockBook): (router: ConnectRouter) => void {
  return (router) =>
    router.service(Inventory, {
      updateStock(req: OrderItem): UpdateResponse {
        const taken = book.take(req.sku, req.quantity, req.idempotencyKey);
        return create(UpdateResponseSchema, { sku: taken.sku, remaining: taken.remaining });
      },
      getStock(req: GetStockRequest): StockLevel {
        return create(StockLevelSchema, { sku: req.sku, quantity: book.level(req.sku) });
      },
      watchStock: (req: WatchStockRequest, ctx: HandlerContext) => watchStock(book, req.sku, ctx.signal),
    });
}

/** The current levels, then each change, until the caller goes away or the server stops. */
async function* watchStock(book: StockBook, sku: string, signal: AbortSignal): AsyncGenerator<StockLevel> {
  const pending: StockLevel[] = [];
  let wake: (() => void) | undefined;
  let overflow = false;
  // Subscribed before the snapshot is read, so no change falls between the two.
  const stop = book.watch((changed, quantity) => {
    if (sku !== '' && changed !== sku) return;
    if (pending.length >= MAX_PENDING_CHANGES) overflow = true;
    else pending.push(create(StockLevelSchema, { sku: changed, quantity }));
    wake?.();
  });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    for (const [s, quantity] of book.levels(sku)) yield create(StockLevelSchema, { sku: s, quantity });
    while (!signal.aborted) {
      if (overflow) throw new ConnectError('watcher too slow, changes were dropped', Code.ResourceExhausted);
      const next = pending.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    stop();
    signal.removeEventListener('abort', onAbort);
  }
}

export interface InventoryService extends GrpcServer {
  readonly book: StockBook;
}

/** Starts the Inventory service on `port` (0 = any free port). */
export async function startInventoryService(
  opts: { port?: number; host?: string; seed?: Readonly<Record<string, number>> } = {},
): Promise<InventoryService> {
  const book = new StockBook(opts.seed);
  const server = await serveGrpc({
    routes: inventoryRoutes(book),
    services: [Inventory],
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
  });
  return { ...server, book };
}
