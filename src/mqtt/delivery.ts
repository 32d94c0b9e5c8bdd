/**
 * Deliveries: a core message out as a PUBLISH. The session queue's consumer serves every
 * non-shared subscription, so each delivery works out which subscriptions match (highest QoS,
 * all their identifiers, no-local, retain-as-published); the client's limits (Maximum Packet
 * Size, Topic Alias Maximum) and packet ids are applied here.
 */
import type { IPublishPacket } from 'mqtt-packet';
import type { Message } from '../core/index.js';
import { publishPacketSize } from './codec.js';
import { acked, awaitAck, deliveredByCopy } from './payload-pool.js';
import type { MqttConnection } from './connection.js';
import { isRetainedCopy, publishedQos, publishProperties, retainFlag } from './map.js';
import { MqttError, Reason } from './reason.js';
import { NONE, type QoS, SESSION_TAG } from './session.js';
import { topicMatches } from './topic.js';

/** DeliverySink: a message for this client. */
export function deliver(
  c: MqttConnection,
  consumerTag: string,
  tag: number,
  redelivered: boolean,
  msg: Message,
): void {
  const session = c.session!;
  const now = Date.now();
  let noAck: boolean;
  let maxQos = -1;
  let retainAsPublished = false;
  let ids: number[] | undefined;
  const topicInfo = c.fe.topics.forKey(msg.routingKey);
  const topic = topicInfo.topic;
  if (consumerTag === SESSION_TAG) {
    noAck = c.sessionNoAck;
    // A No Local subscription does not count for this connection's own publishes.
    const own = msg.publisher === c.core!.id;
    for (const sub of session.subscriptions.values()) {
      if (sub.group !== undefined || (own && sub.noLocal) || !topicMatches(sub.filter, topic)) continue;
      if (sub.qos > maxQos) maxQos = sub.qos;
      if (sub.retainAsPublished) retainAsPublished = true;
      if (sub.id !== 0) (ids ??= []).push(sub.id);
    }
  } else {
    const sub = c.sharedSubs.get(consumerTag);
    noAck = sub === undefined || sub.qos === 0;
    if (sub !== undefined && topicMatches(sub.filter, topic)) {
      maxQos = sub.qos;
      retainAsPublished = sub.retainAsPublished;
      if (sub.id !== 0) ids = [sub.id];
    }
  }
  // No matching subscription (a `$` topic under a wildcard, a literal `*`), no-local, expired,
  // or too large for the client: dropped, as if delivered.
  if (maxQos < 0 || (msg.expiresAt !== 0 && msg.expiresAt <= now) || !topicInfo.valid) {
    if (!noAck) c.coreSession!.settle(tag, false, 'ack');
    return;
  }
  const qos = Math.min(maxQos, publishedQos(msg));
  const retain = isRetainedCopy(msg) || (retainAsPublished && retainFlag(msg));
  const props = c.version === 5 ? publishProperties(msg, now) : undefined;
  let pid = 0;
  if (qos > 0) {
    pid = allocatePid(c, msg, redelivered);
    if (c.outbound === NONE) c.outbound = new Map();
    c.outbound.set(pid, { tag, qos, settled: noAck, msg });
  }
  const dup = redelivered && qos > 0;
  const topicBytes = topicInfo.bytes;
  // A topic alias (v5) is only committed once the packet is known to fit the client.
  let alias = 0;
  let aliasNew = false;
  const aliases = c.clientTopicAliasMaximum > 0 ? (c.outboundAliases ??= new Map()) : undefined;
  if (aliases !== undefined) {
    alias = aliases.get(topic) ?? 0;
    if (alias === 0 && aliases.size < c.clientTopicAliasMaximum) {
      alias = aliases.size + 1;
      aliasNew = true;
    }
  }
  const max = c.clientMaxPacketSize;
  // Until the PUBACK, the queue keeps the message for a redelivery (see payload-pool.ts).
  if (qos > 0) awaitAck(msg.body);
  if (props === undefined && ids === undefined && alias === 0) {
    if (max > 0 && publishPacketSize(topicBytes.length, msg.body.length, qos, c.version === 5) > max) {
      return dropTooLarge(c, pid, tag, noAck);
    }
    if (qos === 0 && !noAck) c.coreSession!.settle(tag, false, 'ack');
    c.writer.publish(topicBytes, msg.body, qos, pid, retain, dup);
    return;
  }
  const out: NonNullable<IPublishPacket['properties']> = { ...props };
  if (ids !== undefined) out.subscriptionIdentifier = ids.length === 1 ? ids[0]! : ids;
  if (alias !== 0) out.topicAlias = alias;
  const bytes = c.writer.encode({
    cmd: 'publish',
    topic: alias !== 0 && !aliasNew ? '' : topic,
    payload: msg.body,
    qos: qos as QoS,
    ...(qos > 0 ? { messageId: pid } : {}),
    retain,
    dup,
    properties: out,
  });
  if (max > 0 && bytes.length > max) return dropTooLarge(c, pid, tag, noAck);
  if (aliasNew) aliases!.set(topic, alias);
  if (qos === 0 && !noAck) c.coreSession!.settle(tag, false, 'ack');
  deliveredByCopy(msg.body);
  c.writer.sendEncoded(bytes);
}

/** A message larger than the client's Maximum Packet Size is dropped, as if delivered (MQTT 5 3.1.2.25). */
function dropTooLarge(c: MqttConnection, pid: number, tag: number, noAck: boolean): void {
  if (pid !== 0) c.outbound.delete(pid);
  if (!noAck) c.coreSession!.settle(tag, false, 'ack');
}

/** A packet id not in use; a resend after reconnect keeps the id the message went out with. */
export function allocatePid(c: MqttConnection, msg: Message, redelivered: boolean): number {
  const session = c.session!;
  if (redelivered) {
    const old = session.pidOf?.get(msg);
    if (old !== undefined && !c.outbound.has(old) && !session.released.has(old)) return old;
  }
  for (let i = 0; i < 65535; i++) {
    const pid = c.nextPid;
    c.nextPid = pid === 65535 ? 1 : pid + 1;
    if (!c.outbound.has(pid) && !session.released.has(pid)) return pid;
  }
  throw new MqttError(Reason.RECEIVE_MAXIMUM_EXCEEDED, 'no packet identifier free');
}

export function onPuback(c: MqttConnection, pid: number): void {
  const o = c.outbound.get(pid);
  if (o === undefined || o.qos !== 1) return; // unknown ids are ignored, as Mosquitto does
  c.outbound.delete(pid);
  if (!o.settled) c.coreSession!.settle(o.tag, false, 'ack');
  acked(o.msg.body);
}
