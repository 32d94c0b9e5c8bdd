/**
 * The service definitions of one upstream, loaded once at start-up from any of three sources:
 * .proto files (compiled with buf), a FileDescriptorSet file, or the upstream's server
 * reflection. The result is one registry (messages, enums, extensions for Any and errors
 * details) and the services the gateway serves.
 */
import { readFile } from 'node:fs/promises';
import {
  create,
  createFileRegistry,
  type DescService,
  fromBinary,
  type FileRegistry,
} from '@bufbuild/protobuf';
import {
  type FileDescriptorProto,
  FileDescriptorSetSchema,
  file_google_protobuf_any,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import type { Transport } from '@connectrpc/connect';
import type { GatewayUpstreamConfig } from '../config/schema.js';
import { SwitchyardError } from '../errors/index.js';
import { file_google_api_annotations } from '../gen/google/api/annotations_pb.js';
import { file_google_api_http } from '../gen/google/api/http_pb.js';
import { compileProtoFiles } from './protoc.js';
import { fetchByReflection } from './reflection-client.js';

export interface UpstreamDefinitions {
  readonly registry: FileRegistry;
  /** The services to serve: every service of the sources except gRPC's own infrastructure. */
  readonly services: readonly DescService[];
}

/** Services an upstream offers for tools, not for clients of the gateway. */
const INFRASTRUCTURE = /^grpc\.(health|reflection)\./;

export async function loadDefinitions(
  upstream: GatewayUpstreamConfig,
  transport: Transport,
): Promise<UpstreamDefinitions> {
  const files: FileDescriptorProto[] = [];
  if (upstream.protoFiles.length > 0) {
    files.push(
      ...decodeSet(await compileProtoFiles(upstream.protoFiles, upstream.importPaths), 'protoFiles'),
    );
  }
  if (upstream.descriptorSet !== undefined) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(upstream.descriptorSet);
    } catch (e) {
      throw new SwitchyardError(
        'INVALID_CONFIG',
        `cannot read ${upstream.descriptorSet}: ${(e as Error).message}`,
      );
    }
    files.push(...decodeSet(bytes, upstream.descriptorSet));
  }
  if (upstream.reflection) files.push(...(await fetchByReflection(transport, upstream.timeoutMs)));
  return definitionsFrom(files);
}

function decodeSet(bytes: Uint8Array, source: string): FileDescriptorProto[] {
  try {
    return fromBinary(FileDescriptorSetSchema, bytes).file;
  } catch (e) {
    throw new SwitchyardError(
      'INVALID_CONFIG',
      `${source} is not a FileDescriptorSet: ${(e as Error).message}`,
    );
  }
}

/**
 * Files a descriptor set may leave out (protoc -o without --include_imports, a reflection
 * server that skips them): the well-known types and Google's HTTP annotations.
 */
const FALLBACK_FILES = [
  file_google_protobuf_any,
  file_google_protobuf_descriptor,
  file_google_protobuf_duration,
  file_google_protobuf_empty,
  file_google_protobuf_field_mask,
  file_google_protobuf_struct,
  file_google_protobuf_timestamp,
  file_google_protobuf_wrappers,
  file_google_api_http,
  file_google_api_annotations,
].map((f) => f.proto);
const FALLBACK_NAMES = new Set(FALLBACK_FILES.map((f) => f.name));

/** `files` and what they import, each after its dependencies (what a descriptor set requires). */
function dependencyOrder(
  files: readonly FileDescriptorProto[],
  byName: ReadonlyMap<string, FileDescriptorProto>,
): FileDescriptorProto[] {
  const out: FileDescriptorProto[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (f: FileDescriptorProto): void => {
    const s = state.get(f.name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`import cycle through ${f.name}`);
    state.set(f.name, 'visiting');
    for (const d of f.dependency) {
      const dep = byName.get(d);
      if (dep === undefined) throw new Error(`${f.name} imports ${d}, which no source provides`);
      visit(dep);
    }
    state.set(f.name, 'done');
    out.push(f);
  };
  for (const f of files) visit(byName.get(f.name)!);
  return out;
}

/** Builds the registry; files may repeat (two sources, shared imports) and come in any order. */
export function definitionsFrom(files: readonly FileDescriptorProto[]): UpstreamDefinitions {
  const byName = new Map<string, FileDescriptorProto>();
  for (const f of FALLBACK_FILES) byName.set(f.name, f);
  for (const f of files) if (!byName.has(f.name) || FALLBACK_NAMES.has(f.name)) byName.set(f.name, f);
  let registry: FileRegistry;
  try {
    registry = createFileRegistry(create(FileDescriptorSetSchema, { file: dependencyOrder(files, byName) }));
  } catch (e) {
    throw new SwitchyardError('INVALID_CONFIG', `inconsistent service definitions: ${(e as Error).message}`);
  }
  const services: DescService[] = [];
  for (const t of registry) if (t.kind === 'service' && !INFRASTRUCTURE.test(t.typeName)) services.push(t);
  return { registry, services };
}
