/**
 * Messages read back from the store (paging and recovery) are rebuilt with the properties codec
 * of the wire form they were stored in. The core owns these persisted forms: the AMQP 0-9-1
 * property bytes (src/model/amqp091.ts) and the JSON form every other protocol's messages are
 * stored in, so a Broker recovers every message whatever front ends run.
 */
import { AMQP_PROPERTIES_CODEC } from '../model/amqp091.js';
import type { PropertiesCodec } from '../model/index.js';
import type { MessageRecord } from '../store/types.js';
import { Message } from './message.js';
import { JSON_PROPERTIES_CODEC } from './properties-json.js';

const CODECS: ReadonlyMap<string, PropertiesCodec> = new Map([
  [JSON_PROPERTIES_CODEC.format, JSON_PROPERTIES_CODEC],
  [AMQP_PROPERTIES_CODEC.format, AMQP_PROPERTIES_CODEC],
]);

/** A message from its stored record; it keeps its store id. */
export function messageFromRecord(r: MessageRecord): Message {
  const codec = CODECS.get(r.propsFormat);
  if (codec === undefined)
    throw new Error(`stored message ${r.id} has properties in unknown form '${r.propsFormat}'`);
  const m = new Message(r.exchange, r.routingKey, r.body, undefined, r.props, codec);
  m.persistentHint = true;
  m.storeId = r.id;
  return m;
}
