/**
 * Files and directories the store creates are its own: messages, definitions and the lock may
 * hold anything a client published, so nobody else on the machine may read them. Created with
 * mode 0600 (files) and 0700 (directories), then set to exactly that: the creation mode passes
 * through the process umask, which can only take bits away, and one that took the owner's
 * would leave the broker unable to use its own files.
 */
import { chmod, type FileHandle, mkdir, open, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

/**
 * mkdir -p with the directories it creates set to 0700 (existing ones are left as they are: the
 * operator may have chosen their mode). Returns the first directory created, as mkdir does.
 */
export async function mkdirPrivate(dir: string): Promise<string | undefined> {
  const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (first === undefined) return undefined;
  for (let d = dir; ; d = dirname(d)) {
    await chmod(d, DIR_MODE);
    if (d === first || dirname(d) === d) break;
  }
  return first;
}

/** Opens a file; one that `flags` may create ('w', 'wx', 'a', their '+' forms) is made 0600. */
export async function openPrivate(path: string, flags: string): Promise<FileHandle> {
  const fh = await open(path, flags, FILE_MODE);
  if (/[wa]/.test(flags)) {
    try {
      await fh.chmod(FILE_MODE);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }
  return fh;
}

/** writeFile that creates the file 0600 (`flag` as writeFile's, e.g. 'wx'). */
export async function writeFilePrivate(path: string, data: string, flag: string): Promise<void> {
  await writeFile(path, data, { flag, mode: FILE_MODE });
  await chmod(path, FILE_MODE);
}
