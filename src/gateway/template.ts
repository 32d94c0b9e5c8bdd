/**
 * google.api.HttpRule path templates (google/api/http.proto, "Path template syntax"):
 *
 *   Template = "/" Segments [ Verb ] ;   Segments = Segment { "/" Segment } ;
 *   Segment  = "*" | "**" | LITERAL | Variable ;   Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *   FieldPath = IDENT { "." IDENT } ;   Verb = ":" LITERAL ;
 *
 * compiled once at start-up into a flat list of segment matchers. `**` may only be the last
 * segment; a variable without a pattern is `{x=*}`.
 */

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export type Segment =
  | { readonly kind: 'literal'; readonly value: string }
  | { readonly kind: 'any' | 'rest' };

export interface Variable {
  /** The field path, e.g. ['shelf', 'id'] for {shelf.id}. */
  readonly fieldPath: readonly string[];
  readonly start: number;
  /** Exclusive; -1 = through the last segment (a `**` pattern). */
  readonly end: number;
}

export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly Segment[];
  readonly variables: readonly Variable[];
  readonly verb: string | undefined;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** RFC 3986 pchar minus the characters the template grammar uses itself. */
const LITERAL = /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})+$/;

export function parseTemplate(source: string): PathTemplate {
  if (!source.startsWith('/')) throw new TemplateError(`path template ${source} must start with '/'`);
  let body = source.slice(1);
  let verb: string | undefined;
  // The verb is the ':' after the last '/' and outside braces.
  const lastSlash = body.lastIndexOf('/');
  const lastBrace = body.lastIndexOf('}');
  const colon = body.indexOf(':', Math.max(lastSlash, lastBrace) + 1);
  if (colon >= 0) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!LITERAL.test(verb)) throw new TemplateError(`path template ${source}: bad verb '${verb}'`);
  }
  const segments: Segment[] = [];
  const variables: Variable[] = [];
  const seen = new Set<string>();
  let i = 0;
  const fail = (why: string): never => {
    throw new TemplateError(`path template ${source}: ${why}`);
  };
  const readSegment = (stop: string): Segment => {
    let j = i;
    while (j < body.length && body[j] !== '/' && !stop.includes(body[j]!)) j++;
    const text = body.slice(i, j);
    i = j;
    if (text === '*') return { kind: 'any' };
    if (text === '**') return { kind: 'rest' };
    if (!LITERAL.test(text)) fail(`bad segment '${text}'`);
    return { kind: 'literal', value: decode(text) };
  };
  while (true) {
    if (body[i] === '{') {
      const close = body.indexOf('}', i);
      if (close < 0) fail('unclosed {');
      const inner = body.slice(i + 1, close);
      const eq = inner.indexOf('=');
      const name = eq < 0 ? inner : inner.slice(0, eq);
      const fieldPath = name.split('.');
      if (!fieldPath.every((p) => IDENT.test(p))) fail(`bad field path '${name}'`);
      if (seen.has(name)) fail(`field ${name} bound twice`);
      seen.add(name);
      const start = segments.length;
      if (eq < 0) segments.push({ kind: 'any' });
      else {
        i += 2 + eq;
        while (true) {
          if (body[i] === '{') fail('nested variable');
          segments.push(readSegment('}'));
          if (i >= close) break;
          i++; // the '/'
        }
        if (i !== close) fail('bad variable pattern');
      }
      i = close + 1;
      variables.push({ fieldPath, start, end: segments.at(-1)!.kind === 'rest' ? -1 : segments.length });
    } else segments.push(readSegment('{}'));
    if (i >= body.length) break;
    if (body[i] !== '/') fail(`unexpected '${body[i]}'`);
    i++;
  }
  const rest = segments.findIndex((s) => s.kind === 'rest');
  if (rest >= 0 && rest !== segments.length - 1) fail("'**' must be the last segment");
  return { source, segments, variables, verb };
}

/** Split a request path (no query) into raw, still percent-encoded segments and its verb. */
export function splitPath(path: string, hasVerb: boolean): { segments: string[]; verb: string | undefined } {
  let p = path.startsWith('/') ? path.slice(1) : path;
  let verb: string | undefined;
  if (hasVerb) {
    const colon = p.lastIndexOf(':');
    if (colon > p.lastIndexOf('/')) {
      verb = p.slice(colon + 1);
      p = p.slice(0, colon);
    }
  }
  return { segments: p.split('/'), verb };
}

/**
 * The variables' values when `segments` match, else undefined. Throws TemplateError for a
 * malformed percent-encoding in a captured value. A single-segment value is fully decoded; a
 * multi-segment one keeps %2F encoded, so its '/' stay distinguishable (http.proto's rule).
 */
export function matchTemplate(
  t: PathTemplate,
  segments: readonly string[],
  verb: string | undefined,
): Map<string, string> | undefined {
  if (verb !== t.verb) return undefined;
  const n = t.segments.length;
  const rest = n > 0 && t.segments[n - 1]!.kind === 'rest';
  if (rest ? segments.length < n - 1 : segments.length !== n) return undefined;
  for (let k = 0; k < n; k++) {
    const s = t.segments[k]!;
    if (s.kind === 'rest') break;
    const got = segments[k]!;
    if (s.kind === 'literal' ? safeDecode(got) !== s.value : got === '') return undefined;
  }
  const values = new Map<string, string>();
  for (const v of t.variables) {
    const end = v.end < 0 ? segments.length : v.end;
    const parts = segments.slice(v.start, end);
    const value =
      end - v.start === 1 && v.end >= 0
        ? decode(parts[0]!)
        : parts.map((p) => decode(p.replace(/%2F/gi, '%252F'))).join('/');
    values.set(v.fieldPath.join('.'), value);
  }
  return values;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new TemplateError(`bad percent-encoding in '${s}'`);
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

/**
 * Orders templates most specific first (a literal before a wildcard, a wildcard before `**`,
 * at the first segment where they differ), so the first match is the one the client meant.
 */
export function compareSpecificity(a: PathTemplate, b: PathTemplate): number {
  const rank = (s: Segment | undefined): number =>
    s === undefined ? 3 : s.kind === 'literal' ? 0 : s.kind === 'any' ? 1 : 2;
  for (let k = 0; k < Math.max(a.segments.length, b.segments.length); k++) {
    const d = rank(a.segments[k]) - rank(b.segments[k]);
    if (d !== 0) return d;
  }
  return (a.verb === undefined ? 1 : 0) - (b.verb === undefined ? 1 : 0);
}

/** Two templates with the same shape match exactly the same paths: a conflict. */
export function templateShape(t: PathTemplate): string {
  const segs = t.segments.map((s) => (s.kind === 'literal' ? `=${s.value}` : s.kind === 'any' ? '*' : '**'));
  return `${segs.join('/')}${t.verb === undefined ? '' : `:${t.verb}`}`;
}
