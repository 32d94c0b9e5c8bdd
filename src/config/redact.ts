/**
 * The configuration as `--print-config` shows it: secrets replaced by "<redacted>". The output
 * ends up in terminals, tickets and CI logs; a password or a password hash (which an attacker
 * can try offline) must not.
 */

export const REDACTED = '<redacted>';

/** Keys whose values are secrets wherever they appear. */
const SECRET_KEY = /^(password|passwordHash|hash|secret|token|passphrase|privateKey|apiKey)$/i;

/**
 * A copy of `config` with every user's password or hash, and every value under a secret-named
 * key, replaced. `users` maps names to a password or hash (or, in a richer form, to an object
 * whose secret fields are replaced).
 */
export function redactConfig(config: unknown): unknown {
  const copy = redact(config);
  if (isRecord(copy) && isRecord(copy.users)) {
    for (const [name, v] of Object.entries(copy.users)) {
      if (!isRecord(v)) copy.users[name] = REDACTED;
    }
  }
  return copy;
}

function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (!isRecord(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    out[k] = SECRET_KEY.test(k) && x !== undefined ? REDACTED : redact(x);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
