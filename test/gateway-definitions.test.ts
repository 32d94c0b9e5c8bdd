/**
 * Where the gateway gets upstream service definitions: .proto files compiled with buf, a
 * FileDescriptorSet file, or the upstream's server reflection (v1, falling back to v1alpha);
 * and start-up errors that name the upstream.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type DescService, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { ConnectRouter } from '@connectrpc/connect';
import { configSchema } from '../src/config/schema.js';
import { loadDefinitions, type UpstreamDefinitions } from '../src/gateway/definitions.js';
import * as v1 from '../src/gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../src/gen/grpc/reflection/v1alpha/reflection_pb.js';
import { BUF_ENV, compileProtoFiles, importName, locateBuf } from '../src/gateway/protoc.js';
import { startTestBroker } from './helpers.js';
import { tempDir } from './support/temp.js';
import { CATALOG_PROTO, catalogSet, FIXTURE_DIR, startUpstream } from './fixtures/gateway/upstream.js';

const upstreamConfig = (extra: Record<string, unknown>) =>
  configSchema.parse({ gateway: { upstreams: [{ name: 'u', address: 'http://127.0.0.1:1', ...extra }] } })
    .gateway.upstreams[0]!;

const noTransport = createGrpcTransport({ baseUrl: 'http://127.0.0.1:1' });

function assertCatalog(defs: UpstreamDefinitions): void {
  assert.deepEqual(
    defs.services.map((s) => s.typeName),
    ['gwtest.v1.Catalog'],
  );
  const get = defs.services[0]!.methods.find((m) => m.name === 'GetItem')!;
  assert.equal(get.input.typeName, 'gwtest.v1.GetItemRequest');
}

test('gateway definitions: from .proto files', async () => {
  assertCatalog(
    await loadDefinitions(
      upstreamConfig({ protoFiles: [CATALOG_PROTO], importPaths: [FIXTURE_DIR] }),
      noTransport,
    ),
  );
});

test('gateway definitions: a .proto file with no import path is found through its own directory', async () => {
  const dir = tempDir('gw-proto-');
  writeFileSync(
    join(dir, 'solo.proto'),
    'syntax = "proto3";\npackage solo;\nmessage M { string a = 1; }\nservice S { rpc Do(M) returns (M); }\n',
  );
  const defs = await loadDefinitions(upstreamConfig({ protoFiles: [join(dir, 'solo.proto')] }), noTransport);
  assert.deepEqual(
    defs.services.map((s) => s.typeName),
    ['solo.S'],
  );
});

test('gateway definitions: a .proto error is reported with the file', async () => {
  const dir = tempDir('gw-proto-');
  writeFileSync(join(dir, 'broken.proto'), 'syntax = "proto3";\nmessage {');
  await assert.rejects(
    loadDefinitions(upstreamConfig({ protoFiles: [join(dir, 'broken.proto')] }), noTransport),
    /broken\.proto/,
  );
  await assert.rejects(
    loadDefinitions(upstreamConfig({ protoFiles: [join(dir, 'missing.proto')] }), noTransport),
    /missing\.proto/,
  );
});

test('gateway definitions: importName picks the first import path that holds the file', () => {
  assert.equal(importName('a/b/c.proto', ['x', 'a']), 'b/c.proto');
  assert.equal(importName('a/b/c.proto', ['a/b', 'a']), 'c.proto');
  assert.equal(importName('a/b/c.proto', ['z']), undefined);
});

test('gateway definitions: from a descriptor set file', async () => {
  const dir = tempDir('gw-set-');
  const file = join(dir, 'set.binpb');
  writeFileSync(file, await catalogSet());
  assertCatalog(await loadDefinitions(upstreamConfig({ descriptorSet: file }), noTransport));
  writeFileSync(file, Buffer.from([0xff, 0xff, 0xff]));
  await assert.rejects(
    loadDefinitions(upstreamConfig({ descriptorSet: file }), noTransport),
    /not a FileDescriptorSet/,
  );
});

test('gateway definitions: without buf, .proto files fail naming the remedies; a descriptor set does not need buf', async () => {
  const remedies =
    /buf compiler, which was not found \(nowhere here\)\. .*npm install @bufbuild\/buf.*descriptorSet.*reflection: true/;
  await assert.rejects(
    compileProtoFiles([CATALOG_PROTO], [FIXTURE_DIR], () => ({ missing: 'nowhere here' })),
    remedies,
  );
  // The same through a broker start, with SWITCHYARD_BUF naming a buf that is not there.
  const dir = tempDir('gw-nobuf-');
  const set = join(dir, 'set.binpb');
  writeFileSync(set, await catalogSet());
  const before = process.env[BUF_ENV];
  process.env[BUF_ENV] = join(dir, 'no-such-buf');
  try {
    await assert.rejects(
      startTestBroker({}, undefined, {
        gateway: {
          upstreams: [
            {
              name: 'catalog',
              address: 'http://127.0.0.1:1',
              protoFiles: [CATALOG_PROTO],
              importPaths: [FIXTURE_DIR],
            },
          ],
        },
      }),
      /gateway upstream catalog: cannot compile .*catalog\.proto: protoFiles need the buf compiler.*SWITCHYARD_BUF=.*no-such-buf is not an executable file.*descriptorSet.*reflection: true/,
    );
    assertCatalog(await loadDefinitions(upstreamConfig({ descriptorSet: set }), noTransport));
  } finally {
    if (before === undefined) delete process.env[BUF_ENV];
    else process.env[BUF_ENV] = before;
  }
});

test('gateway definitions: SWITCHYARD_BUF names the buf binary to use', () => {
  const dir = tempDir('gw-bufpath-');
  const fake = join(dir, 'buf');
  writeFileSync(fake, '#!/bin/sh\n');
  assert.deepEqual(locateBuf({ [BUF_ENV]: fake }), {
    missing: `${BUF_ENV}=${fake} is not an executable file`,
  });
  chmodSync(fake, 0o755);
  assert.deepEqual(locateBuf({ [BUF_ENV]: fake }), { found: { command: fake, args: [] } });
  // Unset: the @bufbuild/buf package of this checkout's dev dependencies, run through node.
  const pkg = locateBuf({ PATH: '' });
  assert.ok('found' in pkg && pkg.found.command === process.execPath, JSON.stringify(pkg));
});

/** A reflection service that answers each file alone, so the client must follow imports. */
function reflection(service: DescService, defs: UpstreamDefinitions) {
  return {
    async *serverReflectionInfo(reqs: AsyncIterable<v1.ServerReflectionRequest>) {
      for await (const req of reqs) {
        const r = req.messageRequest;
        const fileAnswer = (name: string | undefined) => {
          const f = name === undefined ? undefined : defs.registry.getFile(name);
          if (f === undefined) {
            return { case: 'errorResponse', value: { errorCode: 5, errorMessage: 'not found' } } as const;
          }
          return {
            case: 'fileDescriptorResponse',
            value: { fileDescriptorProto: [toBinary(FileDescriptorProtoSchema, f.proto)] },
          } as const;
        };
        if (r.case === 'listServices') {
          yield {
            messageResponse: {
              case: 'listServicesResponse',
              value: { service: [{ name: 'gwtest.v1.Catalog' }, { name: service.typeName }] },
            },
          };
        } else if (r.case === 'fileContainingSymbol') {
          yield { messageResponse: fileAnswer(defs.registry.getService(r.value)?.file.proto.name) };
        } else if (r.case === 'fileByFilename') {
          yield { messageResponse: fileAnswer(r.value) };
        }
      }
    },
  };
}

for (const [version, svc] of [
  ['v1', v1.ServerReflection],
  ['v1alpha (fallback)', v1alpha.ServerReflection],
] as const) {
  test(`gateway definitions: from server reflection ${version}`, async () => {
    const up = await startUpstream({
      extra: (router: ConnectRouter, defs) => {
        router.service(svc as typeof v1.ServerReflection, reflection(svc as DescService, defs) as never);
      },
    });
    try {
      const transport = createGrpcTransport({ baseUrl: up.address });
      const defs = await loadDefinitions(upstreamConfig({ reflection: true }), transport);
      assertCatalog(defs);
    } finally {
      await up.close();
    }
  });
}

test('gateway definitions: reflection against a server without it is a clear error', async () => {
  const up = await startUpstream();
  try {
    const transport = createGrpcTransport({ baseUrl: up.address });
    await assert.rejects(
      loadDefinitions(upstreamConfig({ reflection: true }), transport),
      /server reflection failed/,
    );
  } finally {
    await up.close();
  }
});

test('gateway definitions: a failing upstream stops the broker start, naming the upstream', async () => {
  await assert.rejects(
    startTestBroker({}, undefined, {
      gateway: {
        upstreams: [{ name: 'inventory', address: 'http://127.0.0.1:1', protoFiles: ['nope/missing.proto'] }],
      },
    }),
    /gateway upstream inventory: .*missing\.proto/,
  );
});

test('gateway definitions: conflicting routes stop the start', async () => {
  const dir = tempDir('gw-conflict-');
  writeFileSync(
    join(dir, 'c.proto'),
    `syntax = "proto3";
package c;
import "google/api/annotations.proto";
message M { string id = 1; string name = 2; }
service S {
  rpc A(M) returns (M) { option (google.api.http) = { get: "/v1/things/{id}" }; }
  rpc B(M) returns (M) { option (google.api.http) = { get: "/v1/things/{name}" }; }
}
`,
  );
  await assert.rejects(
    startTestBroker({}, undefined, {
      gateway: {
        upstreams: [{ name: 'c', address: 'http://127.0.0.1:1', protoFiles: [join(dir, 'c.proto')] }],
      },
    }),
    /match the same requests/,
  );
});

test('gateway definitions: config needs one source per upstream', () => {
  assert.throws(() => upstreamConfig({}), /protoFiles, a descriptorSet or reflection/);
  assert.throws(() => upstreamConfig({ reflection: true, tls: {} }), /https/);
});
