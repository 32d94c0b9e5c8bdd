/**
 * REST request → request message, and response message → JSON. The request is assembled as
 * proto3 JSON (path variables, then query parameters, then the body at its place in the rule),
 * converted once by fromJson, so every value gets the standard JSON parsing and every error
 * names its field. Query and path values are strings: they are turned into the JSON type of
 * their field first (bools, enums given as numbers, wrappers).
 */
import {
  type DescField,
  type DescMessage,
  fromJson,
  type JsonValue,
  type Message,
  type Registry,
  ScalarType,
  toJson,
} from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { resolveFieldPath, type Route } from './routes.js';

type JsonObject = { [k: string]: JsonValue };

/** proto3 JSON output: implicit zero values are written, so REST clients see every field. */
const WRITE_OPTIONS = { alwaysEmitImplicit: true } as const;

export function badRequest(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/** Parses a JSON text; a syntax error is a 400 naming where it is. */
export function parseJson(text: string, what = 'request body'): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw badRequest(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The request message of one REST call. `body` is the parsed body (undefined when none). */
export function requestMessage(
  route: Route,
  vars: ReadonlyMap<string, string>,
  query: URLSearchParams,
  body: JsonValue | undefined,
  registry: Registry,
): Message {
  const input = route.method.input;
  let root: JsonObject = {};
  if (route.body === '*') {
    if (body !== undefined) root = asObject(body, '');
  } else if (route.body !== undefined && body !== undefined) {
    root[route.body] = body;
  }
  for (const [path, value] of vars) setAt(root, route.pathFields.get(path)!, value, path);
  // Fields bound by the path or the body are not taken from the query (http.proto).
  if (route.body !== '*') {
    for (const key of new Set(query.keys())) {
      if (vars.has(key)) continue;
      const fields = resolveFieldPath(input, key.split('.'));
      if (fields === undefined) continue; // unknown parameters (cache busters) are ignored
      if (route.body !== undefined && fields[0]!.name === route.body) continue;
      const leaf = fields.at(-1)!;
      if (leaf.fieldKind === 'map' || (leaf.fieldKind === 'message' && !takesJsonString(leaf.message))) {
        throw badRequest(`query parameter ${key}: field ${key} is not a scalar`);
      }
      const values = query.getAll(key);
      if (leaf.fieldKind === 'list') setAt(root, fields, values, key);
      else setAt(root, fields, values.at(-1)!, key);
    }
  }
  return decode(input, root, registry);
}

/** One message from a JSON value (a client-stream line, a WebSocket frame). */
export function decode(desc: DescMessage, json: JsonValue, registry: Registry): Message {
  try {
    return fromJson(desc, json, { registry });
  } catch (e) {
    throw badRequest(`${fieldPathOfError(desc, json, registry) ?? desc.typeName}: ${(e as Error).message}`);
  }
}

export function encode(desc: DescMessage, msg: Message, registry: Registry): JsonValue {
  return toJson(desc, msg, { registry, ...WRITE_OPTIONS });
}

/** The response JSON: the whole message or, with response_body, that field. */
export function responseJson(
  route: Route | undefined,
  desc: DescMessage,
  msg: Message,
  registry: Registry,
): JsonValue {
  const json = encode(desc, msg, registry);
  if (route?.responseBody === undefined) return json;
  return (json as JsonObject)[route.responseBody.jsonName] ?? null;
}

function asObject(v: JsonValue, path: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw badRequest(`${path === '' ? 'request body' : path}: expected a JSON object`);
  }
  return v;
}

/** Sets a string (or string list) at a field path, converting it to the field's JSON type. */
function setAt(root: JsonObject, fields: readonly DescField[], value: string | string[], path: string): void {
  let o = root;
  for (const f of fields.slice(0, -1)) {
    const existing = o[f.jsonName] ?? o[f.name];
    delete o[f.name];
    const next = existing === undefined || existing === null ? {} : asObject(existing, path);
    o[f.jsonName] = next;
    o = next;
  }
  const leaf = fields.at(-1)!;
  delete o[leaf.name];
  o[leaf.jsonName] = Array.isArray(value) ? value.map((v) => scalarJson(leaf, v)) : scalarJson(leaf, value);
}

function scalarJson(f: DescField, v: string): JsonValue {
  const scalar = f.fieldKind === 'scalar' || f.fieldKind === 'list' ? f.scalar : undefined;
  if (f.enum !== undefined) return /^-?\d+$/.test(v) ? Number(v) : v;
  if (scalar === ScalarType.BOOL || f.message?.typeName === 'google.protobuf.BoolValue') {
    return v === 'true' ? true : v === 'false' ? false : v;
  }
  return v;
}

/** Well-known types whose JSON is a scalar (wrappers, Timestamp, Duration, FieldMask). */
const SCALAR_JSON_TYPES = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
  'google.protobuf.Timestamp',
  'google.protobuf.Duration',
  'google.protobuf.FieldMask',
]);

function takesJsonString(m: DescMessage | undefined): boolean {
  return m !== undefined && SCALAR_JSON_TYPES.has(m.typeName);
}

/**
 * Where in `json` fromJson failed, as a dotted path ("items[2].quantity"): found by decoding one
 * field at a time, only after an error, so the hot path pays nothing for it.
 */
export function fieldPathOfError(
  desc: DescMessage,
  json: JsonValue,
  registry: Registry,
  prefix = '',
): string | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return prefix === '' ? undefined : prefix;
  if (desc.typeName.startsWith('google.protobuf.')) return prefix === '' ? undefined : prefix;
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    const here = prefix === '' ? key : `${prefix}.${key}`;
    if (field === undefined) {
      if (!failsAlone(desc, key, value, registry)) continue;
      return here;
    }
    if (!failsAlone(desc, key, value, registry)) continue;
    if (field.message !== undefined && field.fieldKind === 'message') {
      return fieldPathOfError(field.message, value, registry, here) ?? here;
    }
    if (field.message !== undefined && field.fieldKind === 'list' && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (failsAlone(desc, key, [value[i]!], registry)) {
          return fieldPathOfError(field.message, value[i]!, registry, `${here}[${i}]`) ?? `${here}[${i}]`;
        }
      }
    }
    if (field.fieldKind === 'list' && Array.isArray(value)) {
      for (let i = 0; i < value.length; i++)
        if (failsAlone(desc, key, [value[i]!], registry)) return `${here}[${i}]`;
    }
    return here;
  }
  return prefix === '' ? undefined : prefix;
}

function failsAlone(desc: DescMessage, key: string, value: JsonValue, registry: Registry): boolean {
  try {
    fromJson(desc, { [key]: value }, { registry });
    return false;
  } catch {
    return true;
  }
}
