/**
 * Fetches an upstream's service definitions through gRPC server reflection: grpc.reflection.v1,
 * or v1alpha when the upstream does not implement v1. Lists the services, asks for the file of
 * each, and follows imports the server left out of its answers.
 */
import { type DescService, fromBinary } from '@bufbuild/protobuf';
import { type FileDescriptorProto, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { SwitchyardError } from '../errors/index.js';
import * as v1 from '../gen/grpc/reflection/v1/reflection_pb.js';
import * as v1alpha from '../gen/grpc/reflection/v1alpha/reflection_pb.js';

/** Enough for any real schema; stops a broken server from sending us around in circles. */
const MAX_FILES = 10_000;

type Request =
  | { case: 'listServices'; value: string }
  | { case: 'fileContainingSymbol' | 'fileByFilename'; value: string };

/** One request/answer exchange on its own stream: simple, and start-up is not a hot path. */
type Ask = (req: Request) => Promise<v1.ServerReflectionResponse['messageResponse']>;

function asker(service: DescService, transport: Transport, timeoutMs: number): Ask {
  // v1 and v1alpha messages are identical on the wire; only the service name differs.
  const client = createClient(service as typeof v1.ServerReflection, transport);
  return async (req) => {
    const requests = (async function* () {
      yield { messageRequest: req };
    })();
    for await (const res of client.serverReflectionInfo(requests, { timeoutMs })) return res.messageResponse;
    throw new ConnectError('reflection: no answer', Code.Unavailable);
  };
}

export async function fetchByReflection(
  transport: Transport,
  timeoutMs: number,
): Promise<FileDescriptorProto[]> {
  let ask = asker(v1.ServerReflection, transport, timeoutMs);
  let listed: v1.ServerReflectionResponse['messageResponse'];
  try {
    listed = await ask({ case: 'listServices', value: '' });
  } catch (e) {
    if (ConnectError.from(e).code !== Code.Unimplemented) throw reflectionError(e);
    ask = asker(v1alpha.ServerReflection as unknown as DescService, transport, timeoutMs);
    listed = await ask({ case: 'listServices', value: '' }).catch((e2: unknown) => {
      throw reflectionError(e2);
    });
  }
  if (listed.case !== 'listServicesResponse') throw reflectionError(answerError(listed));
  const files = new Map<string, FileDescriptorProto>();
  const take = (answer: v1.ServerReflectionResponse['messageResponse']): void => {
    if (answer.case !== 'fileDescriptorResponse') throw reflectionError(answerError(answer));
    for (const bytes of answer.value.fileDescriptorProto) {
      const f = fromBinary(FileDescriptorProtoSchema, bytes);
      if (!files.has(f.name)) files.set(f.name, f);
    }
  };
  for (const s of listed.value.service) {
    if (/^grpc\.reflection\./.test(s.name)) continue;
    take(
      await ask({ case: 'fileContainingSymbol', value: s.name }).catch((e: unknown) => {
        throw reflectionError(e);
      }),
    );
  }
  // Imports the server did not send along; the well-known types are filled in by the caller.
  const pending = (): string[] =>
    [...files.values()]
      .flatMap((f) => f.dependency)
      .filter((d) => !files.has(d) && !d.startsWith('google/protobuf/'));
  for (let missing = pending(); missing.length > 0 && files.size < MAX_FILES; missing = pending()) {
    for (const name of missing) {
      take(
        await ask({ case: 'fileByFilename', value: name }).catch((e: unknown) => {
          throw reflectionError(e);
        }),
      );
      if (!files.has(name)) throw reflectionError(new Error(`the server did not send ${name}`));
    }
  }
  return [...files.values()];
}

function answerError(answer: v1.ServerReflectionResponse['messageResponse']): Error {
  if (answer.case === 'errorResponse') {
    return new Error(
      `${Code[answer.value.errorCode] ?? answer.value.errorCode}: ${answer.value.errorMessage}`,
    );
  }
  return new Error(`unexpected answer ${String(answer.case)}`);
}

function reflectionError(e: unknown): SwitchyardError {
  return new SwitchyardError('INVALID_CONFIG', `server reflection failed: ${(e as Error).message}`);
}
