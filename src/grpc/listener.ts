/**
 * The native gRPC listener: h2c on its own port (or HTTP/2 over TLS, negotiated with ALPN h2),
 * with HTTP/2 windows sized for publishers that stream, every session tracked so shutdown can
 * close them, and a grace period after which the connections of peers that do not read are cut.
 */
import {
  createSecureServer,
  createServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type SecureServerOptions,
  type ServerOptions,
} from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Listening, ListenTls } from '../core/index.js';
import type { Clock } from '../util/clock.js';
import { listenOn } from '../util/listen.js';

/**
 * HTTP/2 receive windows. The protocol's default, 64 KiB for the stream and for the whole
 * connection, lets a publisher send 64 one-KiB messages per round trip; a broker's publishers
 * need to stream, so each stream may have 1 MiB in flight and a connection 16 MiB.
 */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

/** How long a closing HTTP/2 session may take to finish its streams before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

export interface NativeListening extends Listening {
  /** Open HTTP/2 sessions (client connections). */
  readonly sessions: number;
}

export async function listenNative(
  host: string,
  port: number,
  maxMessageSize: number,
  clock: Clock,
  handle: (req: Http2ServerRequest, res: Http2ServerResponse) => void,
  tls?: ListenTls,
): Promise<NativeListening> {
  const options: ServerOptions = {
    settings: { initialWindowSize: STREAM_WINDOW },
    // Node refuses new streams (ENHANCE_YOUR_CALM) while a session has more than this many
    // MB queued to send; a few of the largest messages in flight must not trip it.
    maxSessionMemory: Math.max(10, Math.ceil((4 * maxMessageSize) / (1 << 20)) + 16),
  };
  let server: Http2Server;
  let untrack = () => {};
  if (tls === undefined) server = createServer(options, handle);
  else {
    // ALPN offers h2 only (allowHTTP1 false): gRPC needs HTTP/2, and a client that cannot speak
    // it is refused in the handshake rather than answered in HTTP/1.1.
    const secure: SecureServerOptions = { ...options, ...tls.options, ALPNProtocols: ['h2'] };
    const s = createSecureServer(secure, handle);
    untrack = tls.track(s);
    server = s;
  }
  const sessions = new Set<Http2Session>();
  const sockets = new Set<Socket>();
  // A TLS server's 'connection' is the TCP socket under the TLS one: cutting it cuts both.
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
  });
  server.on('session', (s: Http2Session) => {
    sessions.add(s);
    s.once('localSettings', () => s.setLocalWindowSize(SESSION_WINDOW));
    // A broken peer ends its own session only; the process never sees the error.
    s.on('error', () => s.destroy());
    s.once('close', () => sessions.delete(s));
  });
  // The session's own 'error' listener above has dealt with it (destroyed that session).
  server.on('sessionError', () => {});
  await listenOn(server, host, port, 1024);
  return {
    address: server.address() as AddressInfo,
    get sessions() {
      return sessions.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        untrack();
        server.close(() => resolve());
        for (const s of sessions) s.close();
        // A session whose peer does not read can wait forever for its last frames to go out,
        // even after destroy(): past the grace period the connections are cut.
        const t = clock.after(CLOSE_GRACE_MS, () => {
          for (const sock of sockets) sock.destroy();
        });
        server.once('close', () => t.cancel());
      }),
  };
}
