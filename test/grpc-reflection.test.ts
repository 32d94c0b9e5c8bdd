/**
 * gRPC server reflection (v1 and v1alpha) end to end over native gRPC.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Code, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { startTestBroker } from './helpers.js';

const b = await startTestBroker();
after(() => b.close());
const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${b.server.grpc!.address.port}` });
import { create } from '@bufbuild/protobuf';
import {
  ServerReflection,
  ServerReflectionRequestSchema,
} from '../src/gen/grpc/reflection/v1/reflection_pb.js';
import { ServerReflection as ServerReflectionAlpha } from '../src/gen/grpc/reflection/v1alpha/reflection_pb.js';
import { Pushable, reader } from './grpc-client.js';

describe('gRPC reflection (v1 and v1alpha)', () => {
  for (const [name, svc] of [
    ['v1', ServerReflection],
    ['v1alpha', ServerReflectionAlpha],
  ] as const) {
    test(`${name}: lists services, serves files with dependencies, NOT_FOUND for unknown`, async () => {
      const c = createClient(svc as typeof ServerReflection, transport);
      const reqs = new Pushable<ReturnType<typeof create<typeof ServerReflectionRequestSchema>>>();
      const s = reader(c.serverReflectionInfo(reqs));
      reqs.push(
        create(ServerReflectionRequestSchema, { messageRequest: { case: 'listServices', value: '' } }),
      );
      const list = await s.next();
      assert.equal(list.messageResponse.case, 'listServicesResponse');
      const names = (list.messageResponse.value as { service: { name: string }[] }).service.map(
        (x) => x.name,
      );
      assert.deepEqual(names.sort(), [
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'grpc.reflection.v1alpha.ServerReflection',
        'switchyard.v1.Broker',
      ]);
      for (const sym of [
        'switchyard.v1.Broker',
        'switchyard.v1.Broker.Session',
        'switchyard.v1.SessionRequest.Publish',
      ]) {
        reqs.push(
          create(ServerReflectionRequestSchema, {
            messageRequest: { case: 'fileContainingSymbol', value: sym },
          }),
        );
        const r = await s.next();
        assert.equal(r.messageResponse.case, 'fileDescriptorResponse', sym);
        assert.equal(
          (r.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.length,
          2,
        );
      }
      reqs.push(
        create(ServerReflectionRequestSchema, {
          messageRequest: { case: 'fileByFilename', value: 'grpc/health/v1/health.proto' },
        }),
      );
      assert.equal((await s.next()).messageResponse.case, 'fileDescriptorResponse');
      reqs.push(
        create(ServerReflectionRequestSchema, {
          messageRequest: { case: 'fileContainingSymbol', value: 'no.Such' },
        }),
      );
      const nf = await s.next();
      assert.equal(nf.messageResponse.case, 'errorResponse');
      assert.equal((nf.messageResponse.value as { errorCode: number }).errorCode, Code.NotFound);
      reqs.end();
      assert.equal(await s.end(), undefined);
    });
  }
});
