/**
 * The broker's resource alarms and health, wired (issue 15): the memory watcher
 * (observe/memory.ts) raises 'memory', the disk-free watcher (store/disk.ts) 'disk', and a store
 * that failed for good (a failed flush of the message log, a failed write of the definitions)
 * raises 'store', which never clears, and makes the broker unhealthy. Each transition is one line
 * in the log (stderr by default), and status() is what the admin calls show (GET /health,
 * GET /metrics, gRPC BrokerStatus; the gRPC health service turns NOT_SERVING). Blocking itself is
 * Broker.setAlarm's: publishers stop on every protocol, consumers go on.
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
import { type FsSpace, watchDiskFree, type DiskFreeWatcher } from '../store/disk.js';

export interface AlarmHooks {
  /** Where alarm lines go; process.stderr by default. */
  readonly log?: (line: string) => void;
  /** The resident set in bytes (tests pass a fake); process.memoryUsage.rss() by default. */
  readonly memorySample?: () => number;
  /** The memory the process may use (tests pass one); the machine's or the cgroup's by default. */
  readonly memoryLimit?: MemoryLimit;
  /** statfs for the disk-free watcher (tests pass a fake); fs.promises.statfs by default. */
  readonly statfs?: (path: string) => Promise<FsSpace>;
}

/**
 * The free disk space below which publishers are blocked: the configured limit, but never less
 * than the largest message any protocol accepts, or one such message could pass the check and
 * fill the disk (ENOSPC) before the next one. 0 (off) stays off.
 */
export function effectiveDiskFreeLimit(config: Config): number {
  if (config.store.diskFreeLimit <= 0) return 0;
  return Math.max(
    config.store.diskFreeLimit,
    config.amqp.maxMessageSize,
    config.mqtt.maxPacketSize,
    config.http.maxBodySize,
    config.http.wsMaxPayload,
    config.grpc.maxMessageSize,
  );
}

/** What the admin calls report (GET /health, GET /metrics, gRPC BrokerStatus). */
export type AlarmStatus = BrokerStatusReport;

export class ResourceAlarms {
  private readonly log: (line: string) => void;
  private readonly memory: MemoryWatcher | undefined;
  private readonly disk: DiskFreeWatcher | undefined;
  private readonly limit: MemoryLimit;
  private readonly problems: string[] = [];
  private readonly unhealthyListeners = new Set<(problem: string) => void>();

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
    const diskLimit = effectiveDiskFreeLimit(config);
    this.disk =
      diskLimit === 0
        ? undefined
        : watchDiskFree(config.dataDir, {
            limitBytes: diskLimit,
            intervalMs: config.store.diskCheckInterval,
            ...(hooks.statfs === undefined ? {} : { statfs: hooks.statfs }),
            onChange: (alarm, free) => {
              this.say(
                alarm
                  ? `disk alarm on: ${formatBytes(free)} free < limit ${formatBytes(diskLimit)}: publishers are blocked on every protocol, consumers go on`
                  : `disk alarm off: ${formatBytes(free)} free ≥ limit ${formatBytes(diskLimit)}: publishers go on`,
              );
              broker.setAlarm('disk', alarm);
            },
            onError: (e) =>
              this.say(`disk free-space check failed: ${e instanceof Error ? e.message : String(e)}`),
          });
  }

  /**
   * A store failed for good (`what`: 'message log', 'definitions store'): what it was given may
   * not be on disk and nothing more can be. Publishers are blocked for the rest of the process's
   * life, the broker reports unhealthy everywhere, and the log says why. Consumers go on, so what
   * is in memory can still be drained.
   */
  storeFailed(what: string, err: Error): void {
    const problem = `${what} failed: ${err.message}`;
    if (this.problems.includes(problem)) return;
    this.problems.push(problem);
    this.say(
      `${problem}; publishers are blocked on every protocol and the broker reports unhealthy until it is restarted (check the data directory's disk)`,
    );
    this.broker.setAlarm('store', true);
    for (const l of this.unhealthyListeners) l(problem);
  }

  /** Registers for the broker turning unhealthy (a store failure); returns the unregister function. */
  onUnhealthy(listener: (problem: string) => void): () => void {
    this.unhealthyListeners.add(listener);
    return () => this.unhealthyListeners.delete(listener);
  }

  /** Checks the free disk space now (tests; the watcher polls by itself). */
  checkDisk(): Promise<boolean> {
    return this.disk?.checkNow() ?? Promise.resolve(false);
  }

  /** Checks memory now (tests; the watcher polls on the broker clock by itself). */
  checkMemory(): boolean {
    return this.memory?.checkNow() ?? false;
  }

  status(): AlarmStatus {
    const m = this.memory;
    return {
      healthy: this.problems.length === 0,
      problems: [...this.problems],
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
    this.disk?.stop();
  }

  private say(text: string): void {
    this.log(`${new Date(this.broker.clock.now()).toISOString()} switchyard: ${text}\n`);
  }
}
