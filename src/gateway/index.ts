/**
 * The gRPC gateway (docs/gateway.md): upstream gRPC services served on the broker's HTTP listener
 * as REST/JSON (google.api.http routes), NDJSON/SSE streams, WebSocket bidi streams and
 * gRPC-Web/Connect. Independent of the broker core: it only forwards calls. Everything that can
 * be computed ahead (definitions, routes, schemas, transports) is built once in `start`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DescMethod } from '@bufbuild/protobuf';
import type { Config } from '../config/schema.js';
import { SwitchyardError } from '../errors/index.js';
import { HeaderRules } from './call-options.js';
import { loadDefinitions } from './definitions.js';
import { type CallLogEntry, CallMetrics } from './interceptors.js';
import { serveRest } from './rest.js';
import { methodName, type Route, RouteTable, routesOf } from './routes.js';
import { replyError } from './status.js';
import type { TemplateError } from './template.js';
import { badRequest } from './transcode.js';
import { connectUpstream, type Upstream } from './upstream.js';
import { webProxyHandler } from './web-proxy.js';
import { BidiSockets } from './websocket.js';

export interface GatewaySettings {
  /** Largest REST body, NDJSON line or gRPC-Web/Connect message (http.maxBodySize). */
  readonly maxBodySize: number;
  /** Largest WebSocket frame (http.wsMaxPayload). */
  readonly wsMaxPayload: number;
  /** gateway.maxTimeoutMs: the longest deadline a client may ask for. */
  readonly maxTimeoutMs: number;
  /** One entry per finished upstream call; none = no call log. */
  readonly log?: (entry: UpstreamCallLogEntry) => void;
}

/** Paths of the broker's own gRPC services (src/grpc serves them): never the gateway's. */
const BROKER_SERVICES = /^\/(?:switchyard\.v1\.|grpc\.health\.v1\.|grpc\.reflection\.)/;

type UpgradeFn = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface UpstreamCallLogEntry extends CallLogEntry {
  /** The upstream's configured name. */
  readonly upstream: string;
}

export class Gateway {
  /** Per-method call counts and latencies, by upstream. */
  readonly metrics: CallMetrics;
  private readonly shutdown = new AbortController();
  private readonly sockets: BidiSockets;
  private readonly web: ReturnType<typeof webProxyHandler>;
  /** `/pkg.Service/Method` → upstream, for gRPC-Web/Connect. */
  private readonly servicePaths = new Map<string, Upstream>();
  private readonly upgradePaths = new Map<string, UpgradeFn>();

  private constructor(
    private readonly upstreams: readonly Upstream[],
    private readonly routes: RouteTable,
    private readonly headers: HeaderRules,
    private readonly settings: GatewaySettings,
    metrics: CallMetrics,
  ) {
    this.metrics = metrics;
    this.sockets = new BidiSockets(headers, settings.wsMaxPayload, settings.maxTimeoutMs);
    const web = upstreams.map((u) => ({
      upstream: u,
      methods: [] as DescMethod[],
      exposed: [] as DescMethod[],
    }));
    for (const w of web) {
      const listed = new Set(w.upstream.config.grpcWeb);
      for (const m of w.upstream.services.flatMap((svc) => svc.methods)) {
        const path = `/${methodName(m)}`;
        if (this.servicePaths.has(path)) {
          throw new SwitchyardError('INVALID_CONFIG', `gateway: two upstreams serve ${methodName(m)}`);
        }
        this.servicePaths.set(path, w.upstream);
        w.methods.push(m);
        if (listed.has('*') || listed.has(methodName(m))) w.exposed.push(m);
        if (m.methodKind === 'bidi_streaming') {
          this.upgradePaths.set(path, this.sockets.handler(w.upstream, m));
        }
      }
    }
    for (const r of routes.all()) {
      const literal =
        r.template.variables.length === 0 && r.template.segments.every((s) => s.kind === 'literal');
      if (r.method.methodKind === 'bidi_streaming' && literal && r.template.verb === undefined) {
        this.upgradePaths.set(r.template.source, this.sockets.handler(upstreams[r.upstream]!, r.method));
      }
    }
    this.web = webProxyHandler(
      web,
      headers,
      settings.maxBodySize,
      settings.maxTimeoutMs,
      this.shutdown.signal,
    );
  }

  /**
   * Loads every upstream's definitions (a failure names the upstream) and builds the routes;
   * undefined when no upstream is configured.
   */
  static async start(config: Config['gateway'], settings: GatewaySettings): Promise<Gateway | undefined> {
    if (config.upstreams.length === 0) return undefined;
    const names = new Set<string>();
    const metrics = new CallMetrics();
    const upstreams: Upstream[] = [];
    try {
      const routes: Route[] = [];
      for (const [i, u] of config.upstreams.entries()) {
        if (names.has(u.name))
          throw new SwitchyardError('INVALID_CONFIG', `gateway: two upstreams are named ${u.name}`);
        names.add(u.name);
        const upstream = connectUpstream(u, {
          metrics,
          log: logFor(u.name, settings.log),
          maxMessageSize: settings.maxBodySize,
        });
        upstreams.push(upstream);
        try {
          const defs = await loadDefinitions(u, upstream.transport);
          upstream.registry = defs.registry;
          upstream.services = defs.services;
          routes.push(...routesOf(defs.services, i));
        } catch (e) {
          throw new SwitchyardError('INVALID_CONFIG', `gateway upstream ${u.name}: ${(e as Error).message}`);
        }
      }
      const table = new RouteTable(routes);
      return new Gateway(
        upstreams,
        table,
        new HeaderRules(config.forwardHeaders, config.returnHeaders),
        settings,
        metrics,
      );
    } catch (e) {
      for (const u of upstreams) u.close();
      throw e;
    }
  }

  /** The HTTP listener's request handler: takes the gateway's routes, leaves the rest (false). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    if (BROKER_SERVICES.test(path)) return false;
    // Every method is routed to the web handler, which refuses the ones not in grpcWeb in each
    // protocol's own form (UNIMPLEMENTED, as a gRPC server answers a method it does not have).
    if (this.servicePaths.has(path) && isWebCall(req, target)) {
      this.web(req, res);
      return true;
    }
    let match: ReturnType<RouteTable['match']>;
    try {
      match = this.routes.match(req.method ?? 'GET', path);
    } catch (e) {
      replyError(res, badRequest((e as TemplateError).message));
      return true;
    }
    if (match === undefined) return false;
    const routeUpstream = this.upstreams[match.route.upstream]!;
    let url: URL;
    try {
      url = new URL(target, 'http://gateway');
    } catch {
      replyError(res, badRequest(`bad request target ${target}`));
      return true;
    }
    const ctx = {
      upstream: routeUpstream,
      headers: this.headers,
      maxBodySize: this.settings.maxBodySize,
      maxTimeoutMs: this.settings.maxTimeoutMs,
    };
    serveRest(ctx, match, url, req, res).catch((e: unknown) => replyError(res, e, routeUpstream.registry));
    return true;
  };

  /** WebSocket upgrade handlers by exact path: bidi methods at `/pkg.Service/Method` and literal routes. */
  upgrades(): ReadonlyMap<string, UpgradeFn> {
    return this.upgradePaths;
  }

  /** Ends every call and connection to the upstreams (shutdown). */
  close(): void {
    if (!this.shutdown.signal.aborted) this.shutdown.abort();
    this.sockets.close();
    for (const u of this.upstreams) u.close();
  }
}

function logFor(upstream: string, log: GatewaySettings['log']): ((entry: CallLogEntry) => void) | undefined {
  return log === undefined ? undefined : (entry) => log({ upstream, ...entry });
}

/**
 * gRPC-Web and Connect calls use the same `/pkg.Service/Method` path as the default REST route;
 * they are told apart by content type, and a Connect JSON call by its Connect-Protocol-Version
 * header (or the `connect=v1` query of a Connect GET).
 */
function isWebCall(req: IncomingMessage, target: string): boolean {
  const ct = req.headers['content-type'] ?? '';
  return (
    ct.startsWith('application/grpc') ||
    ct.startsWith('application/connect+') ||
    ct.startsWith('application/proto') ||
    req.headers['connect-protocol-version'] !== undefined ||
    target.includes('connect=v1')
  );
}

export type { CallLogEntry } from './interceptors.js';
