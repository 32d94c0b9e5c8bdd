/**
 * Temporary directories for tests. Every directory made here is removed when the test file's
 * process exits (node:test runs each file in a process of its own), so a test that fails half way
 * leaks nothing either; `removeTempDir` removes one sooner, and passing the test context removes
 * it when that test ends (for tests that make many).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();

process.once('exit', () => {
  // Synchronous: nothing asynchronous runs after 'exit'.
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh empty directory under the OS temp dir, named `<prefix><random>`. */
export function tempDir(prefix = 'switchyard-test-', t?: { after(fn: () => Promise<void>): void }): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  if (t !== undefined) t.after(() => removeTempDir(dir));
  return dir;
}

/** Removes a directory made by tempDir (and everything in it) now. */
export async function removeTempDir(dir: string): Promise<void> {
  made.delete(dir);
  await rm(dir, { recursive: true, force: true });
}
