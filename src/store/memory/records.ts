/** Records in memory only: for a broker without a data directory, and for tests. */
import type { RecordStore } from '../types.js';

const NONE: ReadonlyMap<string, Buffer> = new Map();

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
    return this.kinds.get(kind) ?? NONE;
  }
}
