/**
 * The broker's resource alarms, wired (issue 15): the memory watcher (observe/memory.ts) raises
 * 'memory', the disk-free watcher (store/disk.ts) 'disk'. Each transition is one line in the log
 * (stderr by default), and status() is what the admin calls show (GET /health, GET /metrics, the
 * gRPC health service). Blocking itself is Broker.setAlarm's: publishers stop on every protocol,
 * consumers go on.
 */
import type { Config } from '../config/schema.js';
import type { Broker, BrokerStatusReport } from '../core/index.js';
import {
  formatBytes,
  highWatermarkBytes,
  type MemoryLimit,
  type MemoryWatcher,
  memoryLimit,
  watchMemory,
} from '../observe/memory.js';

export interface AlarmHooks {
  /** Where alarm lines go; process.stderr by default. */
  readonly log?: (line: string) => void;
  /** The resident set in bytes (tests pass a fake); process.memoryUsage.rss() by default. */
  readonly memorySample?: () => number;
  /** The memory the process may use (tests pass one); the machine's or the cgroup's by default. */
  readonly memoryLimit?: MemoryLimit;
}

/** What the admin calls report (GET /health, GET /metrics, gRPC BrokerStatus). */
export type AlarmStatus = BrokerStatusReport;

export class ResourceAlarms {
  private readonly log: (line: string) => void;
  private readonly memory: MemoryWatcher | undefined;
  private readonly limit: MemoryLimit;

  constructor(
    private readonly broker: Broker,
    config: Config,
    hooks: AlarmHooks = {},
  ) {
    this.log = hooks.log ?? ((line) => process.stderr.write(line));
    this.limit = hooks.memoryLimit ?? memoryLimit();
    const mark = highWatermarkBytes(config.memory.highWatermark, this.limit.bytes);
    const of =
      config.memory.highWatermark <= 1
        ? ` (${config.memory.highWatermark} of ${formatBytes(this.limit.bytes)}, the ${this.limit.source}'s memory)`
        : '';
    this.memory =
      mark === undefined
        ? undefined
        : watchMemory({
            limitBytes: mark,
            intervalMs: config.memory.checkInterval,
            clock: broker.clock,
            ...(hooks.memorySample === undefined ? {} : { sample: hooks.memorySample }),
            onChange: (alarm, rss) => {
              this.say(
                alarm
                  ? `memory alarm on: resident ${formatBytes(rss)} ≥ high watermark ${formatBytes(mark)}${of}: publishers are blocked on every protocol, consumers go on`
                  : `memory alarm off: resident ${formatBytes(rss)} < high watermark ${formatBytes(mark)}: publishers go on`,
              );
              broker.setAlarm('memory', alarm);
            },
          });
  }

  /** Checks memory now (tests; the watcher polls on the broker clock by itself). */
  checkMemory(): boolean {
    return this.memory?.checkNow() ?? false;
  }

  status(): AlarmStatus {
    const m = this.memory;
    return {
      healthy: true,
      problems: [],
      alarms: [...this.broker.alarms],
      memory:
        m === undefined
          ? undefined
          : {
              rss: m.rss,
              highWatermark: m.limitBytes,
              limit: this.limit.bytes,
              limitSource: this.limit.source,
            },
    };
  }

  stop(): void {
    this.memory?.stop();
  }

  private say(text: string): void {
    this.log(`${new Date(this.broker.clock.now()).toISOString()} switchyard: ${text}\n`);
  }
}
