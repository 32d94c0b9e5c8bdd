/** Deliveries by key (a routing key): `next` resolves with the first one of a key, now or later. */
export class Inbox<T> {
  private readonly got = new Map<string, T>();
  private readonly waiting = new Map<string, (v: T) => void>();

  put(key: string, v: T): void {
    const w = this.waiting.get(key);
    if (w === undefined) this.got.set(key, v);
    else {
      this.waiting.delete(key);
      w(v);
    }
  }

  next(key: string): Promise<T> {
    const v = this.got.get(key);
    return v !== undefined ? Promise.resolve(v) : new Promise((r) => this.waiting.set(key, r));
  }
}
