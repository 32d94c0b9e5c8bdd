/**
 * A Clock whose time moves only when a test says so: timers fire, in order of their due time,
 * inside advance(). Tests of keep-alives, expiries and timeouts use it instead of sleeping.
 */
import type { Clock, Timer } from '../../src/util/clock.js';

interface Scheduled {
  due: number;
  readonly seq: number;
  readonly fn: () => void;
  /** 0 for a one-shot timer. */
  readonly period: number;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers: Scheduled[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  after(ms: number, fn: () => void): Timer {
    return this.add(ms, fn, 0);
  }

  every(ms: number, fn: () => void): Timer {
    return this.add(ms, fn, Math.max(1, ms));
  }

  /** Timers not yet fired nor cancelled. */
  get pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    // Bounded: a timer that keeps rescheduling itself at 0 ms cannot spin forever.
    for (let fired = 0; fired < 1_000_000; fired++) {
      this.timers.sort((a, b) => a.due - b.due || a.seq - b.seq);
      const next = this.timers[0];
      if (next === undefined || next.due > end) break;
      this.timers.shift();
      if (next.cancelled) continue;
      this.time = next.due;
      if (next.period > 0) {
        next.due += next.period;
        this.timers.push(next);
      }
      next.fn();
    }
    this.time = end;
  }

  private add(ms: number, fn: () => void, period: number): Timer {
    const t: Scheduled = { due: this.time + Math.max(0, ms), seq: this.seq++, fn, period, cancelled: false };
    this.timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }
}
