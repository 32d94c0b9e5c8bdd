/**
 * Loads the configuration: defaults ← YAML file ← environment ← command-line flags. Errors cite
 * the file and line of the offending value.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { SwitchyardError } from '../errors/index.js';
import { type Config, configSchema, OPTION_DOCS } from './schema.js';

type Raw = Record<string, unknown>;

function setPath(obj: Raw, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Raw;
  }
  o[parts.at(-1)!] = value;
}

/** Parses an environment value into the shape its option takes. */
function fromEnv(path: string, v: string): unknown {
  if (path === 'users') {
    return Object.fromEntries(
      v
        .split(',')
        .filter((s) => s !== '')
        .map((pair) => {
          const i = pair.indexOf(':');
          return i < 0 ? [pair, ''] : [pair.slice(0, i), pair.slice(i + 1)];
        }),
    );
  }
  if (path === 'vhosts' || path === 'loopbackUsers') return v.split(',').filter((s) => s !== '');
  return parseScalar(v);
}

/** '5672' → 5672, 'off' → 'off', anything else stays a string. */
export function parseScalar(v: string): unknown {
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Dotted path → value, from flags (highest precedence). */
  overrides?: Record<string, unknown>;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  let raw: Raw = {};
  let locate: ((path: (string | number)[]) => string) | undefined;
  if (opts.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (e) {
      throw new SwitchyardError(
        'INVALID_CONFIG',
        `cannot read config file ${opts.file}: ${(e as Error).message}`,
      );
    }
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc });
    if (doc.errors.length > 0) {
      const err = doc.errors[0]!;
      const pos = lc.linePos(err.pos[0]);
      throw new SwitchyardError(
        'INVALID_CONFIG',
        `${opts.file}:${pos.line}:${pos.col}: ${err.message.split('\n')[0]}`,
      );
    }
    const js = doc.toJS() as unknown;
    if (js !== null && js !== undefined) {
      if (typeof js !== 'object' || Array.isArray(js)) {
        throw new SwitchyardError('INVALID_CONFIG', `${opts.file}: the top level must be a map`);
      }
      raw = js as Raw;
    }
    locate = (path) => {
      const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
      if (node?.range === undefined) return opts.file!;
      const pos = lc.linePos(node.range[0]);
      return `${opts.file}:${pos.line}`;
    };
  }
  const env = opts.env ?? process.env;
  for (const d of OPTION_DOCS) {
    const v = env[d.env];
    if (v !== undefined && v !== '') setPath(raw, d.path, fromEnv(d.path, v));
  }
  for (const [path, v] of Object.entries(opts.overrides ?? {})) if (v !== undefined) setPath(raw, path, v);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const where = locate !== undefined ? `${locate(path)}: ` : '';
    const name = path.join('.') || '(top level)';
    throw new SwitchyardError('INVALID_CONFIG', `${where}${name}: ${issue.message}`);
  }
  return parsed.data;
}
