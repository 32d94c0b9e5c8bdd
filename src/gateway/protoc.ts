/**
 * Compiles .proto files to a FileDescriptorSet at start-up with the buf compiler, so upstream
 * services need no code generation. buf takes one source directory, so the import paths (and the
 * repository's proto/, which holds google/api) are merged into a temporary tree of .proto files,
 * the first import path winning when two hold the same name, as protoc's -I order does.
 *
 * buf is optional (a ~90 MB binary, and descriptor sets and reflection never need it): it is used
 * where it can be found (SWITCHYARD_BUF, the @bufbuild/buf package, `buf` on PATH); otherwise
 * `protoFiles` fail with an error that names the remedies.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwitchyardError } from '../errors/index.js';

/** The repository's proto/ (google/api annotations), from src/gateway or dist/gateway alike. */
export const BUILTIN_PROTO_DIR = fileURLToPath(new URL('../../proto', import.meta.url));

/** Bounds the walk of an import path, so a mistaken `importPaths: [/]` fails instead of hanging. */
const MAX_FILES = 20_000;
const SKIP_DIRS = new Set(['node_modules', '.git']);

/** The environment variable that names a buf binary, for one installed neither by npm nor on PATH. */
export const BUF_ENV = 'SWITCHYARD_BUF';

/** How to run buf: a command and the arguments that come before buf's own. */
export interface BufCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** A buf found, or why none was: the words for the error message. */
export type BufLookup = { readonly found: BufCommand } | { readonly missing: string };

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The launcher script of the @bufbuild/buf npm package (it starts the platform's binary), if installed. */
function bufPackageScript(): string | null {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('@bufbuild/buf/package.json');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return null;
    throw e;
  }
  const script = join(dirname(pkg), 'bin', 'buf');
  // Run through node (process.execPath): its executable bit does not matter.
  return statSync(script, { throwIfNoEntry: false })?.isFile() === true ? script : null;
}

/**
 * Finds buf: the file SWITCHYARD_BUF names (and nothing else when it is set), else the @bufbuild/buf
 * package (a dev dependency of a source checkout, or installed beside Switchyard), else `buf` on PATH.
 */
export function locateBuf(env: NodeJS.ProcessEnv = process.env): BufLookup {
  const named = env[BUF_ENV];
  if (named !== undefined && named !== '') {
    return isExecutableFile(named)
      ? { found: { command: named, args: [] } }
      : { missing: `${BUF_ENV}=${named} is not an executable file` };
  }
  const script = bufPackageScript();
  if (script !== null) return { found: { command: process.execPath, args: [script] } };
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'buf');
    if (isExecutableFile(candidate)) return { found: { command: candidate, args: [] } };
  }
  return { missing: `no @bufbuild/buf package, no ${BUF_ENV}, no buf on PATH` };
}

function bufMissing(files: readonly string[], why: string): SwitchyardError {
  return new SwitchyardError(
    'INVALID_CONFIG',
    `cannot compile ${files.join(', ')}: protoFiles need the buf compiler, which was not found (${why}). ` +
      'Either install it (npm install @bufbuild/buf, or buf on PATH, or its path in ' +
      `${BUF_ENV}), or give this upstream a descriptorSet (buf build -o set.binpb, or protoc ` +
      '--include_imports -o set.binpb) or reflection: true instead of protoFiles',
  );
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

/**
 * Compiles `files` (paths on disk) with their imports into a serialized FileDescriptorSet.
 * `lookup` finds buf (tests replace it).
 */
export async function compileProtoFiles(
  files: readonly string[],
  importPaths: readonly string[],
  lookup: () => BufLookup = locateBuf,
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
  const buf = lookup();
  if ('missing' in buf) throw bufMissing(files, buf.missing);
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
    const args = [...buf.found.args, 'build', tree, '-o', '-#format=binpb'];
    for (const n of names) args.push('--path', join(tree, n));
    return await new Promise<Uint8Array>((res, rej) => {
      execFile(
        buf.found.command,
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
