/**
 * The route table: each upstream method's google.api.http bindings (the rule and its
 * additional_bindings), or `POST /{package.Service}/{Method}` for a method without one. Built
 * once at start-up; a rule that names a missing field, or two routes that match the same
 * requests, stop the start.
 */
import {
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
  getOption,
  hasOption,
} from '@bufbuild/protobuf';
import { SwitchyardError } from '../errors/index.js';
import { http } from '../gen/google/api/annotations_pb.js';
import type { HttpRule } from '../gen/google/api/http_pb.js';
import {
  compareSpecificity,
  matchTemplate,
  type PathTemplate,
  parseTemplate,
  splitPath,
  type TemplateError,
  templateShape,
} from './template.js';

export interface Route {
  readonly httpMethod: string;
  readonly template: PathTemplate;
  readonly method: DescMethod;
  /** Index of the upstream serving the method. */
  readonly upstream: number;
  /** '*' = the whole body is the request; a field name = the body is that field; undefined = no body. */
  readonly body: string | undefined;
  /** The response field to answer with instead of the whole response. */
  readonly responseBody: DescField | undefined;
  /** The path variables' fields, resolved once. */
  readonly pathFields: ReadonlyMap<string, readonly DescField[]>;
}

export interface RouteMatch {
  readonly route: Route;
  readonly vars: ReadonlyMap<string, string>;
}

/** Full method name, `pkg.Service/Method`. */
export function methodName(m: DescMethod): string {
  return `${m.parent.typeName}/${m.name}`;
}

export class RouteTable {
  private readonly byMethod = new Map<string, Route[]>();

  constructor(routes: readonly Route[]) {
    const shapes = new Map<string, Route>();
    for (const r of routes) {
      const key = `${r.httpMethod} ${templateShape(r.template)}`;
      const other = shapes.get(key);
      if (other !== undefined) {
        throw new SwitchyardError(
          'INVALID_CONFIG',
          `gateway: routes ${r.httpMethod} ${r.template.source} (${methodName(r.method)}) and ${other.template.source} (${methodName(other.method)}) match the same requests`,
        );
      }
      shapes.set(key, r);
      let list = this.byMethod.get(r.httpMethod);
      if (list === undefined) this.byMethod.set(r.httpMethod, (list = []));
      list.push(r);
    }
    for (const list of this.byMethod.values())
      list.sort((a, b) => compareSpecificity(a.template, b.template));
  }

  /** The route for a request, undefined when none; throws TemplateError for a malformed path. */
  match(httpMethod: string, path: string): RouteMatch | undefined {
    const list = this.byMethod.get(httpMethod);
    if (list === undefined) return undefined;
    const plain = splitPath(path, false);
    const withVerb = splitPath(path, true);
    for (const route of list) {
      const s = route.template.verb === undefined ? plain : withVerb;
      const vars = matchTemplate(route.template, s.segments, s.verb);
      if (vars !== undefined) return { route, vars };
    }
    return undefined;
  }

  /** Every route (for docs and logs). */
  all(): Route[] {
    return [...this.byMethod.values()].flat();
  }
}

/** The routes of one upstream's services. */
export function routesOf(services: readonly DescService[], upstream: number): Route[] {
  const out: Route[] = [];
  for (const s of services) {
    for (const m of s.methods) {
      const rule = hasOption(m, http) ? getOption(m, http) : undefined;
      if (rule === undefined) {
        out.push(route(m, upstream, 'POST', `/${s.typeName}/${m.name}`, '*', ''));
        continue;
      }
      for (const b of [rule, ...rule.additionalBindings]) {
        if (b.additionalBindings.length > 0 && b !== rule) {
          throw invalid(m, 'additional_bindings may not nest');
        }
        const [verb, path] = pattern(m, b);
        out.push(route(m, upstream, verb, path, b.body === '' ? undefined : b.body, b.responseBody));
      }
    }
  }
  return out;
}

function pattern(m: DescMethod, b: HttpRule): [string, string] {
  switch (b.pattern.case) {
    case 'get':
    case 'put':
    case 'post':
    case 'delete':
    case 'patch':
      return [b.pattern.case.toUpperCase(), b.pattern.value];
    case 'custom':
      return [b.pattern.value.kind.toUpperCase(), b.pattern.value.path];
    default:
      throw invalid(m, 'the google.api.http rule has no pattern');
  }
}

function route(
  m: DescMethod,
  upstream: number,
  httpMethod: string,
  path: string,
  body: string | undefined,
  responseBody: string,
): Route {
  let template: PathTemplate;
  try {
    template = parseTemplate(path);
  } catch (e) {
    throw invalid(m, (e as TemplateError).message);
  }
  const pathFields = new Map<string, readonly DescField[]>();
  for (const v of template.variables) {
    const fields = resolveFieldPath(m.input, v.fieldPath);
    if (fields === undefined)
      throw invalid(m, `${path}: no field ${v.fieldPath.join('.')} in ${m.input.typeName}`);
    const leaf = fields.at(-1)!;
    if (leaf.fieldKind === 'list' || leaf.fieldKind === 'map' || leaf.fieldKind === 'message') {
      throw invalid(m, `${path}: path variable ${v.fieldPath.join('.')} must be a single scalar field`);
    }
    pathFields.set(v.fieldPath.join('.'), fields);
  }
  if (body !== undefined && body !== '*' && m.input.fields.find((f) => f.name === body) === undefined) {
    throw invalid(m, `body: no field ${body} in ${m.input.typeName}`);
  }
  let responseField: DescField | undefined;
  if (responseBody !== '') {
    responseField = m.output.fields.find((f) => f.name === responseBody);
    if (responseField === undefined)
      throw invalid(m, `response_body: no field ${responseBody} in ${m.output.typeName}`);
  }
  return { httpMethod, template, method: m, upstream, body, responseBody: responseField, pathFields };
}

/** The fields along a dotted path (proto or JSON names), undefined when one is missing. */
export function resolveFieldPath(msg: DescMessage, path: readonly string[]): DescField[] | undefined {
  const out: DescField[] = [];
  let cur: DescMessage | undefined = msg;
  for (const name of path) {
    if (cur === undefined) return undefined;
    const f: DescField | undefined = cur.fields.find((x) => x.name === name || x.jsonName === name);
    if (f === undefined) return undefined;
    out.push(f);
    cur = f.fieldKind === 'message' ? f.message : undefined;
  }
  return out;
}

function invalid(m: DescMethod, why: string): SwitchyardError {
  return new SwitchyardError('INVALID_CONFIG', `gateway: ${methodName(m)}: ${why}`);
}
