/**
 * grpc.health.v1.Health (doc/health-checking.md of the gRPC project): "" (the server) and
 * switchyard.v1.Broker are SERVING until the front end closes or the broker's store fails for
 * good (issue 15), then NOT_SERVING. Watch streams
 * the status now and at each change; an unknown service is NOT_FOUND for Check and
 * SERVICE_UNKNOWN for Watch, as the protocol says.
 */
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type HandlerContext } from '@connectrpc/connect';
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as Status,
  HealthCheckResponseSchema,
  type HealthListResponse,
  HealthListResponseSchema,
} from '../../gen/grpc/health/v1/health_pb.js';
import { Broker as BrokerService } from '../../gen/switchyard/v1/broker_pb.js';
import { Outbox } from '../outbox.js';

const SERVICES = ['', BrokerService.typeName];
const NO_FLOW = { full() {}, drained() {} };

export class Health {
  private status = Status.SERVING;
  /** shutdown() was called: the NOT_SERVING it queued must reach watchers whose calls abort. */
  private closing = false;
  private readonly watchers = new Set<Outbox<HealthCheckResponse>>();

  private statusOf(service: string): Status {
    return SERVICES.includes(service) ? this.status : Status.SERVICE_UNKNOWN;
  }

  check(req: HealthCheckRequest): HealthCheckResponse {
    const status = this.statusOf(req.service);
    if (status === Status.SERVICE_UNKNOWN) {
      throw new ConnectError(`unknown service '${req.service}'`, Code.NotFound);
    }
    return create(HealthCheckResponseSchema, { status });
  }

  list(): HealthListResponse {
    const r = create(HealthListResponseSchema);
    for (const s of SERVICES) r.statuses[s] = create(HealthCheckResponseSchema, { status: this.status });
    return r;
  }

  async *watch(req: HealthCheckRequest, ctx: HandlerContext): AsyncGenerator<HealthCheckResponse> {
    const out = new Outbox<HealthCheckResponse>(16, Number.POSITIVE_INFINITY, NO_FLOW);
    const known = SERVICES.includes(req.service);
    out.push(create(HealthCheckResponseSchema, { status: this.statusOf(req.service) }));
    // At shutdown the call's signal aborts too: the NOT_SERVING just queued must still go out.
    const onAbort = () => {
      if (!this.closing) out.abort();
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (known) this.watchers.add(out);
    try {
      yield* out;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      this.watchers.delete(out);
    }
  }

  /**
   * Everything is NOT_SERVING from now on, the broker still running (its store failed): watchers
   * hear it and stay open, as the protocol's Watch does for any change.
   */
  notServing(): void {
    if (this.status === Status.NOT_SERVING) return;
    this.status = Status.NOT_SERVING;
    for (const w of this.watchers) w.push(create(HealthCheckResponseSchema, { status: this.status }));
  }

  /** Everything is NOT_SERVING from now on (shutdown); watchers hear it, then their calls end. */
  shutdown(): void {
    if (this.closing) return;
    this.closing = true;
    const was = this.status;
    this.status = Status.NOT_SERVING;
    for (const w of this.watchers) {
      if (was !== Status.NOT_SERVING) w.push(create(HealthCheckResponseSchema, { status: this.status }));
      w.end();
    }
    this.watchers.clear();
  }
}
