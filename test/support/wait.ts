/**
 * Waiting in tests. A test awaits the event it expects; where there is none to await (a
 * broker-side count, a file), it polls. Either way the time limit is a safety net that turns a
 * hang into a clear failure, never the verdict: it is generous, so that a busy machine (CI runs
 * the suite on 2 shared cores, three times) makes a test slower, not red.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** The limit on waiting for something that should happen (well under node:test's, see run-tests.mjs). */
export const WAIT_MS = 30_000;

/**
 * Polls `cond` every `everyMs` until it holds; throws naming `what` once `ms` have passed.
 * Bounded in rounds as well as in time.
 */
export async function poll(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = WAIT_MS,
  everyMs = 20,
): Promise<void> {
  const deadline = Date.now() + ms;
  const rounds = Math.ceil(ms / everyMs) + 1;
  for (let i = 0; i < rounds; i++) {
    if (await cond()) return;
    if (Date.now() >= deadline) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
