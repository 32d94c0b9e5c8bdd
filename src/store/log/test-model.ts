/**
 * The reference model for the log's property tests: plain maps and sets, no positions, no
 * refcounts. It applies either the operations the broker calls or the decoded records, and shows
 * its state in the same shape as a recovery result, so the two can be compared with deepEqual.
 */
import fc from 'fast-check';
import type { MessageLog } from './message-log.js';
import type { DecodedRecord, LogMessage } from './records.js';
import type { Recovered } from './recovery.js';

interface ModelMsg {
  msg: LogMessage;
  queues: Set<number>;
}

export class Model {
  msgs = new Map<number, ModelMsg>();
  marks = new Map<number, number>();
  maxId = 0;

  clone(): Model {
    const m = new Model();
    for (const [id, x] of this.msgs) m.msgs.set(id, { msg: x.msg, queues: new Set(x.queues) });
    m.marks = new Map(this.marks);
    m.maxId = this.maxId;
    return m;
  }

  publish(msg: LogMessage): void {
    this.maxId = Math.max(this.maxId, msg.id);
    if (msg.queues.length > 0 && !this.msgs.has(msg.id))
      this.msgs.set(msg.id, { msg, queues: new Set(msg.queues) });
  }

  settle(q: number, id: number): void {
    const m = this.msgs.get(id);
    if (m === undefined) return;
    m.queues.delete(q);
    if (m.queues.size === 0) this.msgs.delete(id);
  }

  purge(q: number): void {
    for (const id of this.idsOf(q)) this.settle(q, id);
  }

  deleteQueue(q: number): void {
    this.purge(q);
    this.marks.delete(q);
  }

  mark(q: number, upTo: number): void {
    this.marks.set(q, Math.max(this.marks.get(q) ?? 0, upTo));
  }

  /** Ids held by q, ascending. */
  idsOf(q: number): number[] {
    return [...this.msgs.entries()]
      .filter(([, m]) => m.queues.has(q))
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  apply(r: DecodedRecord): void {
    switch (r.type) {
      case 'msg':
        this.publish(r.msg);
        return;
      case 'move': {
        const m = this.msgs.get(r.msg.id);
        if (m === undefined) this.publish(r.msg);
        else for (const q of [...m.queues]) if (!r.msg.queues.includes(q)) this.settle(q, r.msg.id);
        return;
      }
      case 'settle':
        for (const [q, id] of r.settles) this.settle(q, id);
        return;
      case 'delivered':
        for (const [q, u] of r.marks) this.mark(q, u);
        return;
      case 'purge':
        this.purge(r.queue);
        return;
      case 'delete':
        this.deleteQueue(r.queue);
        return;
      case 'txn':
        for (const m of r.msgs) this.publish(m);
        for (const [q, id] of r.settles) this.settle(q, id);
        return;
      case 'checkpoint':
        this.maxId = Math.max(this.maxId, r.maxId);
        for (const [q, u] of r.marks) this.mark(q, u);
        return;
    }
  }

  /** The state as recovery reports it: queues with live messages, in id order. */
  view(): StateView {
    const queues = new Set<number>();
    for (const m of this.msgs.values()) for (const q of m.queues) queues.add(q);
    const out: StateView = { maxId: this.maxId, queues: {} };
    for (const q of [...queues].sort((a, b) => a - b)) {
      out.queues[q] = {
        deliveredUpTo: this.marks.get(q) ?? 0,
        messages: this.idsOf(q).map((id) => showMessage(this.msgs.get(id)!.msg)),
      };
    }
    return out;
  }
}

export interface StateView {
  maxId: number;
  queues: Record<number, { deliveredUpTo: number; messages: string[] }>;
}

function showMessage(m: Omit<LogMessage, 'queues' | 'body'> & { body: Buffer | undefined }): string {
  const body = m.body === undefined ? '?' : `${m.body.length}:${m.body.subarray(0, 4).toString('hex')}`;
  return `${m.id} ${m.exchange}/${m.routingKey} f${m.propsFormat} p=${m.props.toString('hex')} b=${body}`;
}

/** A recovery result in the model's shape (bodies must have been loaded). */
export function recoveredView(r: Recovered): StateView {
  const out: StateView = { maxId: r.maxId, queues: {} };
  for (const q of [...r.queues.keys()].sort((a, b) => a - b)) {
    const rq = r.queues.get(q)!;
    out.queues[q] = { deliveredUpTo: rq.deliveredUpTo, messages: rq.messages.map(showMessage) };
  }
  return out;
}

// ---- operations ----

const QUEUES = [1, 2, 3];
const queuesArb = fc.subarray(QUEUES, { minLength: 1 });
const queueArb = fc.constantFrom(...QUEUES);
/** Mostly small bodies (copied into the slab); some larger than COPY_LIMIT (written by reference). */
const sizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.nat(120) },
  { weight: 1, arbitrary: fc.integer({ min: 4097, max: 6000 }) },
);
const pick = fc.nat(1000);

export type Op =
  | { k: 'pub'; queues: number[]; size: number }
  | { k: 'settle'; q: number; pick: number }
  | { k: 'settleMany'; q: number; picks: number[] }
  | { k: 'delivered'; q: number; pick: number }
  | { k: 'purge'; q: number }
  | { k: 'delete'; q: number }
  | { k: 'txn'; pubs: { queues: number[]; size: number }[]; settles: { q: number; pick: number }[] }
  | { k: 'sync' };

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ k: fc.constant('pub' as const), queues: queuesArb, size: sizeArb }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('settle' as const), q: queueArb, pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('settleMany' as const),
      q: queueArb,
      picks: fc.array(pick, { maxLength: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delivered' as const), q: queueArb, pick }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('purge' as const), q: queueArb }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('delete' as const), q: queueArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('txn' as const),
      pubs: fc.array(fc.record({ queues: queuesArb, size: sizeArb }), { maxLength: 3 }),
      settles: fc.array(fc.record({ q: queueArb, pick }), { maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ k: 'sync' as const }) },
);

export function makeMessage(id: number, queues: number[], size: number): LogMessage {
  return {
    id,
    queues,
    exchange: id % 3 === 0 ? '' : 'amq.topic',
    routingKey: `k.${id}`,
    propsFormat: id % 2,
    props: id % 4 === 0 ? Buffer.alloc(0) : Buffer.from(`p${id}`),
    body: Buffer.alloc(size, id & 0xff),
  };
}

/** Runs ops against the log and the model alike. */
export async function runOps(log: MessageLog, model: Model, ops: readonly Op[]): Promise<void> {
  const choose = (q: number, n: number): number | undefined => {
    const ids = model.idsOf(q);
    return ids.length === 0 ? undefined : ids[n % ids.length];
  };
  for (const op of ops) {
    switch (op.k) {
      case 'pub': {
        const m = makeMessage(model.maxId + 1, op.queues, op.size);
        log.appendMessage(m);
        model.publish(m);
        break;
      }
      case 'settle': {
        const id = choose(op.q, op.pick);
        if (id === undefined) break;
        log.settle(op.q, id);
        model.settle(op.q, id);
        break;
      }
      case 'settleMany': {
        const ids = [...new Set(op.picks.map((p) => choose(op.q, p)).filter((x) => x !== undefined))];
        log.settleMany(op.q, ids);
        for (const id of ids) model.settle(op.q, id);
        break;
      }
      case 'delivered': {
        const upTo = choose(op.q, op.pick) ?? model.maxId;
        log.deliveredUpTo(op.q, upTo);
        model.mark(op.q, upTo);
        break;
      }
      case 'purge':
        log.purgeQueue(op.q);
        model.purge(op.q);
        break;
      case 'delete':
        log.deleteQueue(op.q);
        model.deleteQueue(op.q);
        break;
      case 'txn': {
        const pubs = op.pubs.map((p, i) => makeMessage(model.maxId + 1 + i, p.queues, p.size));
        const settles = new Map<number, number[]>();
        for (const s of op.settles) {
          const id = choose(s.q, s.pick);
          if (id === undefined) continue;
          const ids = settles.get(s.q) ?? [];
          if (!ids.includes(id)) ids.push(id);
          settles.set(s.q, ids);
        }
        log.txn({ publishes: pubs, settles });
        for (const m of pubs) model.publish(m);
        for (const [q, ids] of settles) for (const id of ids) model.settle(q, id);
        break;
      }
      case 'sync':
        await log.sync();
        break;
    }
  }
}
