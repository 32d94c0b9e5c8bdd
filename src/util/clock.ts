/**
 * Time as the broker reads it. Every timer and timestamp in the core and the front ends goes
 * through a Clock that the composition root passes down, so tests can move time themselves
 * (test/support/manual-clock.ts) instead of sleeping and asserting on windows.
 */

/** A scheduled callback; cancel() is safe to call more than once, also after it ran. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch (Date.now()). */
  now(): number;
  /**
   * Calls `fn` once after `ms`. The timer does not keep the process alive (broker timers are
   * housekeeping; the listeners are what keep a broker running).
   */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` until cancelled; does not keep the process alive either. */
  every(ms: number, fn: () => void): Timer;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};
