/**
 * Deliveries: a core message out as a PUBLISH. The session queue's consumer serves every
 * non-shared subscription, so each delivery works out which subscriptions match (highest QoS
 * [MQTT-3.3.4-2], all their identifiers [MQTT-3.3.4-3] [MQTT-3.3.4-4], no-local [MQTT-3.8.3-3],
 * retain-as-published [MQTT-3.3.1-12] [MQTT-3.3.1-13]); the client's limits (Maximum Packet
 * Size, Topic Alias Maximum) and packet ids are applied here.
 */
import type { Message } from '../core/index.js';
import { propertiesSize, type PublishProperties, publishPacketSize } from './codec/index.js';
import type { MqttContext } from './context.js';
import { isRetainedCopy, publishedQos, publishProperties, retainFlag } from './map.js';
import { SESSION_TAG } from './session.js';
import { topicMatches } from './topic.js';

/** DeliverySink: a message for this client. */
export function deliver(
  c: MqttContext,
  consumerTag: string,
  tag: number,
  redelivered: boolean,
  msg: Message,
): void {
  const session = c.session;
  const consumers = c.consumers;
  const services = c.services;
  // The time only matters for a message that expires (one clock read less per delivery).
  const now = msg.expiresAt !== 0 ? services.clock.now() : 0;
  let noAck: boolean;
  let maxQos = -1;
  let retainAsPublished = false;
  let ids: number[] | undefined;
  const topicInfo = services.topics.forKey(msg.routingKey);
  const topic = topicInfo.topic;
  if (consumerTag === SESSION_TAG) {
    noAck = consumers.sessionNoAck;
    // A No Local subscription does not count for this connection's own publishes.
    const own = msg.publisher === c.core.id;
    for (const sub of session.subscriptions.values()) {
      if (sub.group !== undefined || (own && sub.noLocal) || !topicMatches(sub.filter, topic)) continue;
      if (sub.qos > maxQos) maxQos = sub.qos;
      if (sub.retainAsPublished) retainAsPublished = true;
      if (sub.id !== 0) (ids ??= []).push(sub.id);
    }
  } else {
    const sub = consumers.sharedSubscription(consumerTag);
    noAck = sub === undefined || sub.qos === 0;
    if (sub !== undefined && topicMatches(sub.filter, topic)) {
      maxQos = sub.qos;
      retainAsPublished = sub.retainAsPublished;
      if (sub.id !== 0) ids = [sub.id];
    }
  }
  // No matching subscription (a `$` topic under a wildcard, a literal `*`), no-local, expired
  // [MQTT-3.3.2-5], or too large for the client: dropped, as if delivered.
  if (maxQos < 0 || (msg.expiresAt !== 0 && msg.expiresAt <= now) || !topicInfo.valid) {
    if (!noAck) consumers.coreSession!.settle(tag, false, 'ack');
    return;
  }
  // [MQTT-3.8.4-8]: the lower of the published and the granted QoS.
  const qos = Math.min(maxQos, publishedQos(msg));
  const retain = isRetainedCopy(msg) || (retainAsPublished && retainFlag(msg));
  const v = c.version;
  let props: PublishProperties | undefined = v === 5 ? publishProperties(msg, now) : undefined;
  let pid = 0;
  if (qos > 0) {
    pid = c.inflight.allocate(session, msg, redelivered);
    c.inflight.add(pid, { tag, qos, settled: noAck, msg });
  }
  // [MQTT-3.3.1-1] [MQTT-3.3.1-3]: DUP only on a redelivery.
  const dup = redelivered && qos > 0;
  const topicBytes = topicInfo.bytes;
  // A topic alias (v5) is only committed once the packet is known to fit the client.
  const alias = v === 5 ? c.aliases.outboundFor(topic) : 0;
  const max = c.limits.maxPacketSize;
  const pool = services.pool;
  // Until the PUBACK, the queue keeps the message for a redelivery (see codec/payload-pool.ts).
  if (qos > 0) pool.awaitAck(msg.body);
  if (props === undefined && ids === undefined && alias === 0) {
    if (max > 0 && publishPacketSize(topicBytes.length, msg.body.length, qos, v) > max) {
      return dropTooLarge(c, pid, tag, noAck);
    }
    if (qos === 0 && !noAck) consumers.coreSession!.settle(tag, false, 'ack');
    c.writer.publish(topicBytes, msg.body, qos, pid, retain, dup);
    return;
  }
  props = { ...props };
  if (ids !== undefined) props.subscriptionIdentifier = ids.length === 1 ? ids[0]! : ids;
  if (alias !== 0) props.topicAlias = alias < 0 ? -alias : alias;
  const propsSize = propertiesSize(props);
  // An alias in use leaves the topic out (section 3.3.2.3.4).
  const sentTopic = alias > 0 ? EMPTY : topicBytes;
  // [MQTT-3.1.2-24] [MQTT-3.1.2-25]: too large for the client: dropped as if delivered.
  if (max > 0 && publishPacketSize(sentTopic.length, msg.body.length, qos, v, propsSize) > max) {
    return dropTooLarge(c, pid, tag, noAck);
  }
  if (alias < 0) c.aliases.commit(topic, -alias);
  if (qos === 0 && !noAck) consumers.coreSession!.settle(tag, false, 'ack');
  c.writer.publish(sentTopic, msg.body, qos, pid, retain, dup, props, propsSize);
}

const EMPTY = Buffer.alloc(0);

/** A message larger than the client's Maximum Packet Size is dropped, as if delivered. */
function dropTooLarge(c: MqttContext, pid: number, tag: number, noAck: boolean): void {
  if (pid !== 0) c.inflight.delete(pid);
  if (!noAck) c.consumers.coreSession!.settle(tag, false, 'ack');
}
