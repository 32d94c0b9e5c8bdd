/** Helpers shared by the log's tests: temp dirs, file handles with hooks, reading the raw log back. */
import { mkdtemp, open, readdir, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegmentLog } from './segments.js';

export async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens files through a Proxy whose datasync first awaits `gate()` (to delay or fail it) and counts. */
export function hookedOpen(hooks: {
  datasync?: () => Promise<void>;
}): (p: string, f: string) => Promise<FileHandle> {
  return async (p, f) => {
    const fh = await open(p, f);
    return new Proxy(fh, {
      get(target, prop) {
        if (prop === 'datasync' && hooks.datasync !== undefined) {
          const gate = hooks.datasync;
          return async () => {
            await gate();
            return target.datasync();
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  };
}

export interface RawRecord {
  type: number;
  payload: Buffer;
  segment: number;
  /** Payload offset in its segment. */
  offset: number;
}

/** Every valid record in `dir`, read with a plain SegmentLog scan (copies the payloads). */
export async function readRecords(dir: string): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  const log = await SegmentLog.open(dir, {
    onRecord: (type, payload, segment, offset) =>
      out.push({ type, payload: Buffer.from(payload), segment, offset }),
  });
  await log.close();
  return out;
}

/** The segment files of `dir` in order, with their bytes. */
export async function readSegments(dir: string): Promise<{ name: string; bytes: Buffer }[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
  return Promise.all(names.map(async (name) => ({ name, bytes: await readFile(join(dir, name)) })));
}
