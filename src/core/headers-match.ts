/**
 * Headers-exchange matching as RabbitMQ does it. `x-match` is `all` (the default), `any`,
 * `all-with-x` or `any-with-x`; binding arguments whose names start with `x-` take part only in
 * the `-with-x` modes. A binding argument whose value is void (null) matches any value of a
 * header that is present. With no arguments to compare, `all` matches and `any` does not.
 */
import { Decimal, type HeaderTable, type HeaderValue } from '../model/index.js';

export type XMatch = 'all' | 'any' | 'all-with-x' | 'any-with-x';

export function parseXMatch(args: HeaderTable): XMatch | undefined {
  const v = args['x-match'];
  if (v === undefined) return 'all';
  if (v === 'all' || v === 'any' || v === 'all-with-x' || v === 'any-with-x') return v;
  return undefined;
}

export function headersMatch(
  mode: XMatch,
  bindingArgs: HeaderTable,
  headers: HeaderTable | undefined,
): boolean {
  const all = mode === 'all' || mode === 'all-with-x';
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  for (const key of Object.keys(bindingArgs)) {
    if (key === 'x-match') continue;
    if (!withX && key.startsWith('x-')) continue;
    const want = bindingArgs[key]!;
    const have = headers === undefined ? undefined : headers[key];
    const ok = have !== undefined && (want === null || valueEquals(want, have));
    if (all && !ok) return false;
    if (!all && ok) return true;
  }
  return all;
}

export function valueEquals(a: HeaderValue, b: HeaderValue): boolean {
  if (a === b) return true;
  if (a === null || b === null) return false;
  if (typeof a !== 'object' || typeof b !== 'object') {
    // 1 and 1n are the same integer on the wire in different widths; RabbitMQ compares the
    // decoded integers, so do we.
    if (
      (typeof a === 'bigint' || typeof a === 'number') &&
      (typeof b === 'bigint' || typeof b === 'number')
    ) {
      return Number.isInteger(Number(a)) && Number.isInteger(Number(b)) && BigInt(a) === BigInt(b);
    }
    return false;
  }
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Decimal) return b instanceof Decimal && a.scale === b.scale && a.value === b.value;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => valueEquals(v, b[i]!));
  }
  if (Array.isArray(b) || Buffer.isBuffer(b) || b instanceof Date || b instanceof Decimal) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => k in b && valueEquals(a[k]!, b[k]!));
}

/** Deep equality of argument tables (for declare equivalence and binding identity). */
export function tablesEqual(a: HeaderTable, b: HeaderTable): boolean {
  return valueEquals(a, b);
}

/** A canonical string of a table, independent of key order, for binding identity. */
export function tableKey(t: HeaderTable): string {
  const keys = Object.keys(t);
  if (keys.length === 0) return '';
  keys.sort();
  return JSON.stringify(keys.map((k) => [k, canon(t[k]!)]));
}

function canon(v: HeaderValue): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? `${v}n` : v;
  if (Buffer.isBuffer(v)) return { b: v.toString('base64') };
  if (v instanceof Date) return { t: v.getTime() };
  if (v instanceof Decimal) return { d: [v.scale, v.value] };
  if (Array.isArray(v)) return v.map(canon);
  const keys = Object.keys(v).sort();
  return { o: keys.map((k) => [k, canon(v[k]!)]) };
}
