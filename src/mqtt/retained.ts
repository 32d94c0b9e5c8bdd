/**
 * Retained messages: one per topic, kept in the broker's durable records (so they survive a
 * restart) and in a topic trie, so a new subscription finds the ones its filter matches without
 * scanning them all. An empty payload clears a topic; an expired message is dropped when found.
 */
import { decodeJsonProperties, encodeJsonProperties, Message, type RecordStore } from '../core/index.js';
import { warn } from './log.js';
import { RetainedIndex } from './retained-index.js';

const KIND = 'mqtt.retained';

export class RetainedStore {
  private readonly index = new RetainedIndex<Message>();

  constructor(private readonly records: RecordStore) {
    for (const [topic, bytes] of records.records(KIND)) {
      const m = decode(bytes);
      if (m !== undefined) this.index.set(topic, m);
    }
  }

  get size(): number {
    return this.index.size;
  }

  /** Retains `m` for `topic` (an empty body clears it); resolves once that is durable. */
  set(topic: string, m: Message): Promise<void> {
    if (m.body.length === 0) {
      if (!this.index.delete(topic)) return Promise.resolve();
      return this.records.deleteRecord(KIND, topic);
    }
    // A copy of its own: the published body is a slice of a shared slab, which a message kept
    // for as long as a retained one may be should not hold on to.
    const own = new Message(m.exchange, m.routingKey, Buffer.from(m.body), m.properties);
    own.expiresAt = m.expiresAt;
    own.persistentHint = m.persistent;
    this.index.set(topic, own);
    return this.records.putRecord(KIND, topic, encode(own));
  }

  /** Retained messages whose topic `filter` matches, expired ones dropped. */
  match(filter: string, now: number): Message[] {
    const out: Message[] = [];
    const expired: string[] = [];
    for (const [topic, m] of this.index.match(filter)) {
      if (m.expiresAt !== 0 && m.expiresAt <= now) expired.push(topic);
      else out.push(m);
    }
    for (const t of expired) {
      this.index.delete(t);
      this.records.deleteRecord(KIND, t).catch(warn(`dropping the expired retained message of '${t}'`));
    }
    return out;
  }
}

// Record: u32 length of a JSON head {exchange, routingKey, expiresAt, persistent, props}, the
// head, then the body.
function encode(m: Message): Buffer {
  const head = Buffer.from(
    JSON.stringify({
      exchange: m.exchange,
      routingKey: m.routingKey,
      expiresAt: m.expiresAt,
      persistent: m.persistent,
      props: encodeJsonProperties(m.properties).toString('utf8'),
    }),
  );
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(head.length);
  return Buffer.concat([len, head, m.body]);
}

function decode(b: Buffer): Message | undefined {
  try {
    const n = b.readUInt32BE(0);
    const head = JSON.parse(b.subarray(4, 4 + n).toString('utf8')) as {
      exchange: string;
      routingKey: string;
      expiresAt: number;
      persistent: boolean;
      props: string;
    };
    const m = new Message(
      head.exchange,
      head.routingKey,
      Buffer.from(b.subarray(4 + n)),
      decodeJsonProperties(Buffer.from(head.props)),
    );
    m.expiresAt = head.expiresAt;
    m.persistentHint = head.persistent;
    return m;
  } catch (e) {
    // A record we cannot read is skipped, not fatal.
    warn('a stored retained message cannot be read')(e);
    return undefined;
  }
}
