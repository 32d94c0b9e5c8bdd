/**
 * Which web pages may use the HTTP listener (docs/security.md, "Browsers and web origins"):
 *
 * - **Host** (against DNS rebinding): a page of `evil.example` whose name the attacker points at
 *   127.0.0.1 is, for the browser, same-origin with itself, and its requests reach the broker
 *   from loopback with `Host: evil.example`. A request whose Host is not a name the broker
 *   answers to is refused. Allowed: loopback names (`localhost`, `*.localhost`), IP literals
 *   (a page whose origin is the broker's address is not rebinding anything), the configured
 *   listener host, and `http.allowedHosts`; with `http.allowedHosts` empty, any other name too
 *   on a connection that arrived on a non-loopback address (a DNS name that points at the broker
 *   on the network keeps working without configuration). `'*'` in the list turns the check off.
 *   Vite's `server.allowedHosts` and webpack-dev-server's `allowedHosts` draw the same line.
 * - **Origin** of a WebSocket upgrade (browsers open them from any page, CORS does not apply):
 *   absent (not a browser), the same origin as the Host (host and port, scheme-agnostic), or one
 *   of `http.corsOrigins` (`'*'`: any).
 * - **Cross-site requests** to routes that change state: a browser marks every request a page
 *   makes, `Origin` on every POST (the Fetch standard, "append a request Origin header") and
 *   `Sec-Fetch-Site` on every request of a current browser. A request so marked as coming from
 *   another site whose origin is not allowed as above is refused, even a CORS-simple one (a
 *   text/plain POST, an <img> GET) whose answer the page could never read. A client that is not
 *   a browser sends neither and is unaffected, whatever its content type. Go's
 *   `net/http.CrossOriginProtection` draws the same line.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export interface WebOriginSettings {
  /** Host names requests may name besides the built-in ones; '*' = any; `*.example.com` = subdomains. */
  readonly allowedHosts: readonly string[];
  /** http.corsOrigins: full origins (scheme, host, port), or '*'. */
  readonly corsOrigins: readonly string[];
  /** The address the listener binds to (config `host`): a name there is allowed too. */
  readonly listenHost: string;
}

export class WebOrigins {
  private readonly anyHost: boolean;
  private readonly hosts: ReadonlySet<string>;
  private readonly hostSuffixes: readonly string[];
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(private readonly settings: WebOriginSettings) {
    this.anyHost = settings.allowedHosts.includes('*');
    const names = settings.allowedHosts.filter((h) => h !== '*').map(normalizeName);
    this.hosts = new Set([...names.filter((h) => !h.startsWith('*.')), normalizeName(settings.listenHost)]);
    this.hostSuffixes = names.filter((h) => h.startsWith('*.')).map((h) => h.slice(1));
    this.anyOrigin = settings.corsOrigins.includes('*');
    this.origins = new Set(settings.corsOrigins.filter((o) => o !== '*').map((o) => new URL(o).origin));
  }

  /** Undefined when the request's Host is one the broker answers to, else why not. */
  hostRefusal(req: IncomingMessage): string | undefined {
    if (this.anyHost) return undefined;
    const host = req.headers.host;
    // HTTP/1.1 requires Host (RFC 9112 section 3.2); an HTTP/1.0 client without one is not a
    // browser (they all send it) and cannot be rebinding anything.
    if (host === undefined) return undefined;
    const name = hostName(host);
    if (name === undefined) return `the Host header '${clip(host)}' is not a host name`;
    if (isLoopbackName(name) || isIP(unbracket(name)) !== 0 || this.hosts.has(name)) return undefined;
    if (this.hostSuffixes.some((s) => name.endsWith(s))) return undefined;
    if (this.settings.allowedHosts.length === 0 && !isLoopbackAddress(req.socket.localAddress ?? '')) {
      return undefined;
    }
    return `the host name '${clip(name)}' is not one this broker answers to on this address: add it to http.allowedHosts (docs/security.md)`;
  }

  /**
   * Whether a page of `origin` may use the broker: the same origin as the request's Host, or
   * one of http.corsOrigins.
   */
  originAllowed(req: IncomingMessage, origin: string): boolean {
    if (this.anyOrigin || this.origins.has(origin.toLowerCase())) return true;
    return sameOrigin(req, origin);
  }

  /** Undefined when a WebSocket upgrade may proceed, else why not (answered 403). */
  upgradeRefusal(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin === undefined || this.originAllowed(req, origin)) return undefined;
    return `a page of origin ${clip(origin)} may not open WebSockets here: neither the broker's own origin nor in http.corsOrigins`;
  }

  /**
   * Undefined unless a browser marked the request as coming from a page of another site whose
   * origin is not allowed; then why it is refused (the caller answers 403 ACCESS_REFUSED). Every
   * route that changes state asks.
   */
  crossSiteRefusal(req: IncomingMessage): string | undefined {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (this.originAllowed(req, origin)) return undefined;
      return `cross-site request from ${clip(origin)} refused: the origin is neither the broker's own nor in http.corsOrigins`;
    }
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') {
      return `a ${site} browser request without an Origin header is refused (docs/security.md)`;
    }
    return undefined;
  }
}

/**
 * `Origin` (scheme://host[:port]) against `Host` (host[:port]): same host and port, whatever the
 * scheme (TLS may end at a proxy). A missing port is the scheme's default for the origin, and
 * the connection's for the Host.
 */
export function sameOrigin(req: IncomingMessage, origin: string): boolean {
  const host = req.headers.host;
  if (host === undefined || origin === 'null') return false;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false;
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  const oPort = o.port !== '' ? o.port : o.protocol === 'https:' ? '443' : '80';
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host.trim());
  if (m === null) return false;
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const hPort = m[2] ?? (encrypted ? '443' : '80');
  return normalizeName(m[1]!) === normalizeName(o.hostname) && Number(hPort) === Number(oPort);
}

/** The name of a Host header value (port cut, lower case, no trailing dot); undefined if malformed. */
export function hostName(host: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(?::\d{0,5})?$/.exec(host.trim());
  return m === null ? undefined : normalizeName(m[1]!);
}

function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

function unbracket(name: string): string {
  return name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
}

/** `localhost` and its subdomains always resolve to loopback (RFC 6761 section 6.3). */
function isLoopbackName(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost');
}

function isLoopbackAddress(addr: string): boolean {
  return addr === '::1' || addr.startsWith('127.') || addr.startsWith('::ffff:127.');
}

function clip(s: string, max = 100): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}
