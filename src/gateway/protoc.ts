/**
 * Compiles .proto files to a FileDescriptorSet at start-up with the buf compiler, so upstream
 * services need no code generation. buf takes one source directory, so the import paths (and the
 * repository's proto/, which holds google/api) are merged into a temporary tree of .proto files,
 * the first import path winning when two hold the same name, as protoc's -I order does.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchyardError } from '../errors/index.js';

/** The repository's proto/ (google/api annotations), from src/gateway or dist/gateway alike. */
export const BUILTIN_PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/** Bounds the walk of an import path, so a mistaken `importPaths: [/]` fails instead of hanging. */
const MAX_FILES = 20_000;
const SKIP_DIRS = new Set(['node_modules', '.git']);

function bufScript(): string {
  const pkg = createRequire(import.meta.url).resolve('@bufbuild/buf/package.json');
  return join(dirname(pkg), 'bin', 'buf');
}

async function protoFilesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (out.length > MAX_FILES) {
        throw new SwitchyardError('INVALID_CONFIG', `import path ${root} holds more than ${MAX_FILES} files`);
      }
      if (e.isDirectory() && !SKIP_DIRS.has(e.name)) await walk(join(dir, e.name));
      else if (e.isFile() && e.name.endsWith('.proto')) out.push(join(dir, e.name));
    }
  };
  await walk(root);
  return out;
}

/** The import-relative name of `file`: relative to the first import path that contains it. */
export function importName(file: string, importPaths: readonly string[]): string | undefined {
  const abs = resolve(file);
  for (const p of importPaths) {
    const rel = relative(resolve(p), abs);
    if (rel !== '' && !rel.startsWith('..') && !rel.startsWith(sep)) return rel.split(sep).join('/');
  }
  return undefined;
}

/** Compiles `files` (paths on disk) with their imports into a serialized FileDescriptorSet. */
export async function compileProtoFiles(
  files: readonly string[],
  importPaths: readonly string[],
): Promise<Uint8Array> {
  // A file given with no import path containing it is found through its own directory.
  const paths = [...importPaths, ...files.map((f) => dirname(f)), BUILTIN_PROTO_DIR];
  const names = files.map((f) => importName(f, paths)!);
  for (const f of files) {
    // A missing file is named plainly here, not in buf's words later.
    await readFile(f).catch((e: Error) => {
      throw new SwitchyardError('INVALID_CONFIG', `cannot read ${f}: ${e.message}`);
    });
  }
  const tree = await mkdtemp(join(tmpdir(), 'switchyard-gateway-proto-'));
  try {
    const seen = new Set<string>();
    for (const p of paths) {
      if (!(await stat(p).catch(() => undefined))?.isDirectory()) {
        throw new SwitchyardError('INVALID_CONFIG', `import path ${p} is not a directory`);
      }
      for (const f of await protoFilesUnder(p)) {
        const rel = relative(p, f);
        if (seen.has(rel)) continue;
        seen.add(rel);
        await mkdir(dirname(join(tree, rel)), { recursive: true });
        await copyFile(f, join(tree, rel));
      }
    }
    const args = [bufScript(), 'build', tree, '-o', '-#format=binpb'];
    for (const n of names) args.push('--path', join(tree, n));
    return await new Promise<Uint8Array>((res, rej) => {
      execFile(
        process.execPath,
        args,
        { encoding: 'buffer', maxBuffer: 256 << 20, timeout: 60_000 },
        (err, stdout, stderr) => {
          if (err === null) res(new Uint8Array(stdout));
          else {
            const why =
              stderr
                .toString('utf8')
                .trim()
                .split(tree + sep)
                .join('') || err.message;
            rej(new SwitchyardError('INVALID_CONFIG', `cannot compile ${files.join(', ')}: ${why}`));
          }
        },
      );
    });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}
