/**
 * Durable keyed records a front end keeps beside the definitions: MQTT sessions and retained
 * messages. The broker holds one; with a data directory it is the definitions
 * store (same journal, same fsync), without one it is memory.
 */
export interface RecordStore {
  /** Stores or replaces a record; resolves once it is durable. */
  putRecord(kind: string, key: string, value: Buffer): Promise<void>;
  /** Removes a record (absent is fine); resolves once that is durable. */
  deleteRecord(kind: string, key: string): Promise<void>;
  /** The records of one kind as they are now. */
  records(kind: string): ReadonlyMap<string, Buffer>;
}

/** Records in memory only: for a broker without a data directory, and for tests. */
export class MemoryRecordStore implements RecordStore {
  private readonly kinds = new Map<string, Map<string, Buffer>>();

  putRecord(kind: string, key: string, value: Buffer): Promise<void> {
    let m = this.kinds.get(kind);
    if (m === undefined) this.kinds.set(kind, (m = new Map()));
    m.set(key, value);
    return Promise.resolve();
  }

  deleteRecord(kind: string, key: string): Promise<void> {
    this.kinds.get(kind)?.delete(key);
    return Promise.resolve();
  }

  records(kind: string): ReadonlyMap<string, Buffer> {
    return this.kinds.get(kind) ?? new Map();
  }
}
