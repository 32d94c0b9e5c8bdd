/**
 * REST request → request message, without sockets: path variables, query parameters and bodies
 * of any shape give a message or a 400 (INVALID_ARGUMENT) naming the field, never another error.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { JsonValue } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import fc from 'fast-check';
import type { UpstreamDefinitions } from '../src/gateway/definitions.js';
import { RouteTable, routesOf } from '../src/gateway/routes.js';
import { fieldPathOfError, requestMessage } from '../src/gateway/transcode.js';
import { catalogDefinitions } from './fixtures/gateway/upstream.js';

let defs: UpstreamDefinitions;
let table: RouteTable;

before(async () => {
  defs = await catalogDefinitions();
  table = new RouteTable(routesOf(defs.services, 0));
});

function build(method: string, target: string, body?: JsonValue) {
  const url = new URL(target, 'http://x');
  const m = table.match(method, url.pathname)!;
  return requestMessage(m.route, m.vars, url.searchParams, body, defs.registry) as unknown as Record<
    string,
    unknown
  >;
}

test('gateway transcode: path, query and body land in their fields', () => {
  const get = build('GET', '/v1/items/a?kind=KIND_GAME&tags=x&tags=y&nested.note=n&urgent=false&big=-5');
  assert.equal(get.sku, 'a');
  assert.equal(get.kind, 2);
  assert.deepEqual(get.tags, ['x', 'y']);
  assert.equal((get.nested as { note: string }).note, 'n');
  assert.equal(get.big, -5n);
  const annotate = build('POST', '/v1/items/z:annotate?urgent=true', { note: 'body' });
  assert.equal(annotate.sku, 'z');
  assert.equal(annotate.urgent, true);
  assert.equal((annotate.nested as { note: string }).note, 'body');
});

test('gateway transcode: the field path of a bad value', () => {
  const item = defs.registry.getMessage('gwtest.v1.Item')!;
  assert.equal(fieldPathOfError(item, { nested: { level: 'x' } }, defs.registry), 'nested.level');
  assert.equal(fieldPathOfError(item, { tags: ['a', 1] }, defs.registry), 'tags[1]');
  assert.equal(fieldPathOfError(item, { sku: 'ok', nope: 1 }, defs.registry), 'nope');
  assert.equal(fieldPathOfError(item, { sku: 'ok' }, defs.registry), undefined);
});

test('gateway transcode: any query and body give a message or INVALID_ARGUMENT (fuzz)', () => {
  const keys = fc.constantFrom(
    'sku',
    'kind',
    'urgent',
    'tags',
    'nested.note',
    'nested.level',
    'nested',
    'big',
    'x.y',
    '',
  );
  const values = fc.oneof(
    fc.string(),
    fc.constantFrom('true', '1', '-1', '1e999', 'KIND_BOOK', '9223372036854775808'),
  );
  const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<JsonValue>;
  const body = fc.oneof(
    json,
    fc.dictionary(fc.constantFrom('sku', 'quantity', 'nested', 'tags', 'kind', 'big', 'price'), json),
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(keys, values), { maxLength: 6 }), body, (query, b) => {
      const qs = new URLSearchParams(query).toString();
      for (const [method, path, withBody] of [
        ['GET', `/v1/items/s?${qs}`, false],
        ['PUT', `/v1/items/s?${qs}`, true],
        ['POST', `/v1/items/s:annotate?${qs}`, true],
      ] as const) {
        try {
          build(method, path, withBody ? b : undefined);
        } catch (e) {
          assert.ok(e instanceof ConnectError && e.code === Code.InvalidArgument, String(e));
        }
      }
    }),
    { numRuns: 1000 },
  );
});
