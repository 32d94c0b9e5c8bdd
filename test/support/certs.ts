/**
 * Certificates for the TLS tests, made at test time with the openssl command: a CA, a server
 * certificate for 127.0.0.1 and localhost (subjectAltName), and client certificates whose subject
 * CN is a user name. P-256 keys: quick to make, and what the tests need of TLS is the same.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  readonly dir: string;
  /** The CA certificate (PEM file). */
  readonly caFile: string;
  /** Server certificate and key for 127.0.0.1 / localhost. */
  readonly certFile: string;
  readonly keyFile: string;
  /** A new certificate and key signed by this CA (client or server), in `dir` as `<name>.pem/.key`. */
  issue(name: string, opts: { cn: string; server?: boolean; days?: number }): { cert: string; key: string };
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

function newKey(dir: string, file: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
}

/** Makes a CA in `dir` (an empty temp directory the caller removes) and a server certificate. */
export function makeTestCa(dir: string, caName = 'Switchyard Test CA'): TestCa {
  newKey(dir, 'ca.key');
  openssl(dir, [
    ...['req', '-x509', '-new', '-key', 'ca.key', '-out', 'ca.pem', '-days', '2'],
    ...['-subj', `/CN=${caName}`],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  let serial = 1;
  const issue: TestCa['issue'] = (name, opts) => {
    newKey(dir, `${name}.key`);
    openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${opts.cn}`]);
    const ext = opts.server
      ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
      : 'extendedKeyUsage=clientAuth\n';
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, [
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key'],
      ...['-set_serial', String(serial++), '-days', String(opts.days ?? 2)],
      ...['-extfile', `${name}.ext`, '-out', `${name}.pem`],
    ]);
    return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  };
  const server = issue('server', { cn: 'localhost', server: true });
  return { dir, caFile: join(dir, 'ca.pem'), certFile: server.cert, keyFile: server.key, issue };
}

/** The broker's config for TLS on every listener, each on an ephemeral port. */
export function tlsExtra(
  ca: TestCa,
  tls: Record<string, unknown> = {},
  mqttExtra: Record<string, unknown> = {},
) {
  return {
    tls: { certFile: ca.certFile, keyFile: ca.keyFile, caFile: ca.caFile, ...tls },
    mqtt: { port: 0, tlsPort: 0, ...mqttExtra },
    http: { port: 0, tlsPort: 0 },
    grpc: { port: 0, tlsPort: 0 },
  };
}
