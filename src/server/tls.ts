/**
 * The broker's TLS: the `tls` section of the configuration made into Node's server options once,
 * shared by every TLS listener (AMQPS, MQTTS, HTTPS, gRPC over TLS), and certificate reloads.
 *
 * A reload (SIGHUP, or the files changing) reads the files again and, only when they make a
 * valid secure context, hands them to every listening server with tls.Server#setSecureContext:
 * new handshakes use the new certificate, open connections keep the session they have. Files
 * that do not load (a key that does not match the certificate, a file half written) leave the
 * previous certificate in use and the reason is reported.
 */
import { readFileSync, type Stats, unwatchFile, watchFile } from 'node:fs';
import { createSecureContext, type Server as TlsServer, type TlsOptions } from 'node:tls';
import type { Config } from '../config/schema.js';
import type { ListenTls } from '../core/index.js';
import { SwitchyardError } from '../errors/index.js';

export type TlsConfig = NonNullable<Config['tls']>;

/** The files' contents, as Node's options take them. */
interface Material {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** What a reload did: the new files are in use, or why they are not. */
export type ReloadResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface TlsContextOptions {
  /** Milliseconds between polls of the files' modification times (fs.watchFile). */
  readonly pollMs?: number;
  /** Milliseconds the files must be quiet before a change is loaded (cert and key are written apart). */
  readonly debounceMs?: number;
  /** Every reload's result (SIGHUP or a file change); stderr by default for failures. */
  readonly onReload?: (result: ReloadResult, cause: 'signal' | 'file') => void;
}

/** Reads and checks the files; throws a SwitchyardError (INVALID_CONFIG) saying which file and why. */
function load(c: TlsConfig): Material {
  const read = (what: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new SwitchyardError(
        'INVALID_CONFIG',
        `tls.${what}: cannot read ${path}: ${(e as Error).message}`,
      );
    }
  };
  const m: Material = {
    cert: read('certFile', c.certFile),
    key: read('keyFile', c.keyFile),
    ...(c.caFile === undefined ? {} : { ca: read('caFile', c.caFile) }),
  };
  try {
    // Fails on PEM that does not parse and on a key that does not belong to the certificate.
    createSecureContext({ ...m, minVersion: c.minVersion });
  } catch (e) {
    throw new SwitchyardError(
      'INVALID_CONFIG',
      `tls: ${c.certFile}, ${c.keyFile}${c.caFile === undefined ? '' : `, ${c.caFile}`} do not make a usable certificate: ${(e as Error).message}`,
    );
  }
  return m;
}

export class TlsContext {
  /** What every TLS listener is opened with. */
  readonly listen: ListenTls;
  private material: Material;
  private readonly servers = new Set<TlsServer>();
  private readonly files: string[];
  /** The listener given to fs.watchFile, while watching. */
  private watching: ((now: Stats, before: Stats) => void) | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly onReload: (result: ReloadResult, cause: 'signal' | 'file') => void;

  /** Loads the files (throws INVALID_CONFIG when they do not make a usable certificate). */
  constructor(
    private readonly config: TlsConfig,
    private readonly opts: TlsContextOptions = {},
  ) {
    this.material = load(config);
    this.files = [config.certFile, config.keyFile, ...(config.caFile === undefined ? [] : [config.caFile])];
    this.onReload = opts.onReload ?? reportToStderr;
    const current = () => this.serverOptions();
    const servers = this.servers;
    this.listen = {
      // A getter: a listener opened after a reload starts with the current files.
      get options(): TlsOptions {
        return current();
      },
      track(server) {
        servers.add(server);
        return () => servers.delete(server);
      },
    };
  }

  private serverOptions(): TlsOptions {
    const verify = this.config.verifyClients;
    return {
      ...this.material,
      minVersion: this.config.minVersion,
      // 'optional': the certificate is asked for, and the connection goes on without one (or with
      // one the CA does not verify: then socket.authorized is false and it names nobody).
      requestCert: verify !== 'none',
      rejectUnauthorized: verify === 'required',
    };
  }

  /** Listening TLS servers (for tests and the start-up log). */
  get serverCount(): number {
    return this.servers.size;
  }

  /**
   * Reads the files again; if they load, every listening server uses them for its next
   * handshakes. Open connections are not touched either way.
   */
  reload(cause: 'signal' | 'file' = 'signal'): ReloadResult {
    let result: ReloadResult;
    try {
      const m = load(this.config);
      for (const s of this.servers) s.setSecureContext({ ...m, minVersion: this.config.minVersion });
      this.material = m;
      result = { ok: true };
    } catch (e) {
      result = { ok: false, reason: e instanceof Error ? e.message : String(e) };
    }
    this.onReload(result, cause);
    return result;
  }

  /**
   * Watches the files (fs.watchFile: polling survives the rename an editor or certbot does) and
   * reloads once they have been quiet for the debounce period.
   */
  watch(): void {
    if (this.watching !== undefined) return;
    const interval = this.opts.pollMs ?? 2000;
    const quiet = this.opts.debounceMs ?? 500;
    const changed = (now: Stats, before: Stats) => {
      if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
      if (this.debounce !== undefined) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.debounce = undefined;
        this.reload('file');
      }, quiet);
      this.debounce.unref();
    };
    this.watching = changed;
    for (const f of this.files) watchFile(f, { interval, persistent: false }, changed);
  }

  /** Stops watching (shutdown). */
  close(): void {
    const w = this.watching;
    if (w !== undefined) for (const f of this.files) unwatchFile(f, w);
    this.watching = undefined;
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = undefined;
    this.servers.clear();
  }
}

function reportToStderr(result: ReloadResult, cause: 'signal' | 'file'): void {
  const why = cause === 'signal' ? 'SIGHUP' : 'the certificate files changed';
  if (result.ok) process.stderr.write(`switchyard: TLS certificates reloaded (${why})\n`);
  else {
    process.stderr.write(
      `switchyard: TLS certificates not reloaded (${why}), the previous ones stay in use: ${result.reason}\n`,
    );
  }
}
