/**
 * Password hashes: our own scrypt form, and RabbitMQ's salted SHA-256 / SHA-512 / MD5 forms
 * accepted as they are, so users exported from RabbitMQ (`rabbitmqctl export_definitions`,
 * `password_hash` + `hashing_algorithm`) log in unchanged.
 *
 * scrypt runs on libuv's thread pool (crypto.scrypt), never on the event loop, and every
 * comparison is constant-time. A password or a hash never reaches an error text.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** RabbitMQ's password hashing modules (its definitions' `hashing_algorithm`). */
export const RABBIT_HASHING = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
} as const;
export type RabbitHashing = keyof typeof RABBIT_HASHING;

/** How a user's password is kept. */
export type Credential =
  | { readonly kind: 'plain'; readonly password: string }
  | {
      readonly kind: 'scrypt';
      readonly n: number;
      readonly r: number;
      readonly p: number;
      readonly salt: Buffer;
      readonly key: Buffer;
    }
  | {
      readonly kind: 'rabbit';
      readonly algorithm: 'sha256' | 'sha512' | 'md5';
      readonly salt: Buffer;
      readonly digest: Buffer;
    };

const SCRYPT_PREFIX = '$scrypt$';
/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds on the thread pool). */
const DEFAULT_LOG_N = 15;
const DEFAULT_R = 8;
const DEFAULT_P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function scryptAsync(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, { N: n, r, p, maxmem: 256 * n * r + (1 << 20) }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Hashes a password in our self-describing form: `$scrypt$ln=15,r=8,p=1$<salt>$<key>` (base64). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const n = 2 ** DEFAULT_LOG_N;
  const key = await scryptAsync(password, salt, n, DEFAULT_R, DEFAULT_P);
  return `${SCRYPT_PREFIX}ln=${DEFAULT_LOG_N},r=${DEFAULT_R},p=${DEFAULT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/**
 * Reads a stored hash: ours (`$scrypt$…`), or RabbitMQ's base64 of a 4-byte salt and the digest of
 * salt + password (`algorithm` names its module; RabbitMQ's default is SHA-256). Throws an Error
 * without the hash in its text when the form is not one of these.
 */
export function parseHash(
  hash: string,
  algorithm: RabbitHashing = 'rabbit_password_hashing_sha256',
): Credential {
  if (hash.startsWith(SCRYPT_PREFIX)) {
    const m =
      /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(
        hash,
      );
    const ln = Number(m?.[1]);
    if (m === null || ln < 10 || ln > 20)
      throw new Error('a $scrypt$ password hash is not in the form $scrypt$ln=N,r=R,p=P$salt$key');
    return {
      kind: 'scrypt',
      n: 2 ** ln,
      r: Number(m[2]),
      p: Number(m[3]),
      salt: Buffer.from(m[4]!, 'base64'),
      key: Buffer.from(m[5]!, 'base64'),
    };
  }
  const alg = RABBIT_HASHING[algorithm];
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(hash) ? Buffer.from(hash, 'base64') : Buffer.alloc(0);
  const digestBytes = alg === 'sha256' ? 32 : alg === 'sha512' ? 64 : 16;
  if (bytes.length !== 4 + digestBytes) {
    throw new Error(
      `a password hash is neither $scrypt$ nor RabbitMQ's ${algorithm} form (base64 of a 4-byte salt and the digest)`,
    );
  }
  return { kind: 'rabbit', algorithm: alg, salt: bytes.subarray(0, 4), digest: bytes.subarray(4) };
}

/** RabbitMQ's form of a password (for tests and for exporting definitions RabbitMQ can read). */
export function rabbitHash(
  password: string,
  algorithm: 'sha256' | 'sha512' | 'md5' = 'sha256',
  salt = randomBytes(4),
): string {
  const digest = createHash(algorithm).update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** Equal contents, in time that depends only on the lengths. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether `password` matches the credential. */
export async function verifyPassword(c: Credential, password: string): Promise<boolean> {
  switch (c.kind) {
    case 'plain': {
      // Digests of both, so the comparison takes the same time whatever the lengths.
      const want = createHash('sha256').update(c.password, 'utf8').digest();
      const got = createHash('sha256').update(password, 'utf8').digest();
      return timingSafeEqual(want, got);
    }
    case 'scrypt':
      return sameBytes(await scryptAsync(password, c.salt, c.n, c.r, c.p), c.key);
    case 'rabbit':
      return sameBytes(createHash(c.algorithm).update(c.salt).update(password, 'utf8').digest(), c.digest);
  }
}
