/**
 * Messages read back from the store (paging and recovery) are rebuilt with the properties codec
 * of the wire form they were stored in. Front ends register their codecs here, so the core can
 * rebuild a message without knowing any protocol.
 */
import type { MessageRecord } from '../store/types.js';
import type { PropertiesCodec } from '../model/index.js';
import { Message } from './message.js';
import { JSON_PROPERTIES_CODEC } from './properties-json.js';

const codecs = new Map<string, PropertiesCodec>([[JSON_PROPERTIES_CODEC.format, JSON_PROPERTIES_CODEC]]);

/** Makes a wire form of properties known, so stored messages in that form can be rebuilt. */
export function registerPropertiesCodec(codec: PropertiesCodec): void {
  codecs.set(codec.format, codec);
}

/** A message from its stored record; it keeps its store id. */
export function messageFromRecord(r: MessageRecord): Message {
  const codec = codecs.get(r.propsFormat);
  if (codec === undefined)
    throw new Error(`stored message ${r.id} has properties in unknown form '${r.propsFormat}'`);
  const m = new Message(r.exchange, r.routingKey, r.body, undefined, r.props, codec);
  m.persistentHint = true;
  m.storeId = r.id;
  return m;
}
