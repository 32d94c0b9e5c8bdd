/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha, the same protocol under two names),
 * answered from the file descriptors embedded in the generated code, so `buf curl`, grpcurl,
 * Postman and grpcio's reflection client can call the broker with no .proto at hand. A file is
 * sent with all its transitive dependencies; unknown files and symbols are NOT_FOUND error
 * responses on the stream, which goes on.
 */
import {
  create,
  type DescEnum,
  type DescFile,
  type DescMessage,
  type DescService,
  type MessageInitShape,
  toBinary,
} from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import type {
  ServerReflectionRequest,
  ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from '../../gen/grpc/reflection/v1/reflection_pb.js';

type ResponseSchema = typeof ServerReflectionResponseSchema;
type Answer = NonNullable<MessageInitShape<ResponseSchema>['messageResponse']>;

/**
 * The ServerReflectionInfo implementation for one version's response schema (v1 and v1alpha
 * messages have the same fields and numbers): one response per request, in order.
 */
export function reflectionInfo(index: ReflectionIndex, schema: ResponseSchema) {
  return async function* (
    requests: AsyncIterable<ServerReflectionRequest>,
  ): AsyncGenerator<ServerReflectionResponse> {
    for await (const r of requests) {
      yield create(schema, {
        validHost: r.host,
        originalRequest: r,
        messageResponse: index.answer(r.messageRequest),
      });
    }
  };
}

export class ReflectionIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly symbols = new Map<string, DescFile>();
  /** Message types, for all_extension_numbers_of_type. */
  private readonly messages = new Set<string>();

  constructor(
    files: readonly DescFile[],
    /** The services list_services names. */
    readonly services: readonly string[],
  ) {
    for (const f of files) this.addFile(f);
  }

  /** The answer to one request (the request's oneof). */
  answer(req: ServerReflectionRequest['messageRequest']): Answer {
    switch (req.case) {
      case 'listServices':
        return {
          case: 'listServicesResponse',
          value: { service: this.services.map((name) => ({ name })) },
        };
      case 'fileByFilename': {
        const f = this.files.get(req.value);
        return f === undefined ? notFound(`file '${req.value}' not found`) : this.withDependencies(f);
      }
      case 'fileContainingSymbol': {
        const f = this.symbols.get(req.value);
        return f === undefined ? notFound(`symbol '${req.value}' not found`) : this.withDependencies(f);
      }
      case 'fileContainingExtension':
        // None of the served files declares an extension.
        return notFound(`no extension ${req.value.extensionNumber} of type '${req.value.containingType}'`);
      case 'allExtensionNumbersOfType':
        if (!this.messages.has(req.value)) return notFound(`type '${req.value}' not found`);
        return {
          case: 'allExtensionNumbersResponse',
          value: { baseTypeName: req.value, extensionNumber: [] },
        };
      default:
        return error(Code.InvalidArgument, 'empty request: set one of the message_request fields');
    }
  }

  private withDependencies(f: DescFile): Answer {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const visit = (d: DescFile) => {
      const name = d.proto.name;
      if (seen.has(name)) return;
      seen.add(name);
      out.push(this.encoded.get(name)!);
      for (const dep of d.dependencies) visit(dep);
    };
    visit(f);
    return { case: 'fileDescriptorResponse', value: { fileDescriptorProto: out } };
  }

  private addFile(f: DescFile): void {
    const name = f.proto.name;
    if (this.files.has(name)) return;
    this.files.set(name, f);
    this.encoded.set(name, toBinary(FileDescriptorProtoSchema, f.proto));
    for (const d of f.dependencies) this.addFile(d);
    for (const m of f.messages) this.addMessage(f, m);
    for (const e of f.enums) this.addEnum(f, e, f.proto.package);
    for (const s of f.services) this.addService(f, s);
  }

  private addMessage(f: DescFile, m: DescMessage): void {
    this.symbols.set(m.typeName, f);
    this.messages.add(m.typeName);
    for (const field of m.fields) this.symbols.set(`${m.typeName}.${field.name}`, f);
    for (const o of m.oneofs) this.symbols.set(`${m.typeName}.${o.name}`, f);
    for (const n of m.nestedMessages) this.addMessage(f, n);
    for (const e of m.nestedEnums) this.addEnum(f, e, m.typeName);
  }

  /** Enum values are scoped beside their enum, as in C++ (protobuf's naming rule). */
  private addEnum(f: DescFile, e: DescEnum, scope: string): void {
    this.symbols.set(e.typeName, f);
    const prefix = scope === '' ? '' : `${scope}.`;
    for (const v of e.values) this.symbols.set(`${prefix}${v.name}`, f);
  }

  private addService(f: DescFile, s: DescService): void {
    this.symbols.set(s.typeName, f);
    for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, f);
  }
}

function error(code: Code, message: string): Answer {
  return { case: 'errorResponse', value: { errorCode: code, errorMessage: message } };
}

function notFound(message: string): Answer {
  return error(Code.NotFound, message);
}
