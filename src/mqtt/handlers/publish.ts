/**
 * PUBLISH from a client (section 3.3): the hot path. The topic (or its alias) becomes a routing
 * key on the MQTT exchange; QoS 1 is acknowledged once every queue has the message (and it is on
 * disk when durable), QoS 2 is received exactly once per packet id until its PUBREL [MQTT-4.3.3-10].
 */
import { isUtf8 } from 'node:buffer';
import type { Queue } from '../../core/index.js';
import { isSwitchyardError, SwitchyardError } from '../../errors/index.js';
import { PacketType, type PublishPacket, Reason } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { warn } from '../log.js';
import { messageFromPublish, reasonOf } from '../map.js';
import { ensureQos2Queue, marker } from '../qos2-markers.js';
import { topicNameError } from '../topic.js';

export function onPublish(c: MqttContext, p: PublishPacket): void {
  const services = c.services;
  const settings = services.settings;
  const props = p.properties;
  let topic = p.topic;
  if (props !== undefined && props.topicAlias !== undefined)
    topic = c.aliases.resolve(topic, props.topicAlias);
  // [MQTT-3.3.2-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2]
  const bad = topicNameError(topic);
  if (bad !== undefined) throw new SwitchyardError('TOPIC_NAME_INVALID', bad);
  const qos = p.qos;
  const pid = p.packetId;
  c.publishing();

  const session = c.session;
  if (qos === 2 && session.awaitingRelease.has(pid)) {
    // A resend of a publish we already have: acknowledge again, route nothing (exactly once).
    c.replies.reply(() => c.writer.ack(PacketType.PUBREC, pid, 0));
    return;
  }
  // [MQTT-3.3.4-7]: no more unacknowledged QoS 1/2 publishes than the broker's Receive Maximum.
  if (qos > 0 && c.version === 5 && c.inboundInFlight >= settings.receiveMaximum) {
    throw new SwitchyardError(
      'RECEIVE_MAXIMUM_EXCEEDED',
      'more unacknowledged QoS 1/2 publishes than Receive Maximum',
    );
  }
  const payload = p.payload;
  if (props?.payloadFormatIndicator === true && !isUtf8(payload)) {
    const e = new SwitchyardError(
      'PAYLOAD_FORMAT_INVALID',
      'payload is not UTF-8 as its format indicator says',
    );
    if (qos === 0) throw e;
    ackLater(c, qos, pid, Reason.PAYLOAD_FORMAT_INVALID, 0, []);
    return;
  }
  // The time only matters for a message that expires (one clock read less per publish).
  const now = props?.messageExpiryInterval !== undefined ? services.clock.now() : 0;
  const key = services.topics.keyFor(topic);
  const msg = messageFromPublish(settings.exchange, topic, p, now, key);
  const core = c.core;
  const waits: Promise<void>[] = [];
  if (p.retain) {
    // [MQTT-3.3.1-5] [MQTT-3.3.1-6]
    const w = services.retained.set(topic, msg);
    if (qos > 0) waits.push(w);
    else w.catch(warn(`storing the retained message of '${topic}'`));
  }
  let queues: readonly Queue[];
  let epoch: number;
  try {
    const exchange = core.admitPublish(settings.exchange, key, 'accept');
    if (qos === 2 && session.durable) {
      // The message and its packet-id marker are written as one record: after a crash either
      // both are there (a resend is recognised) or neither (the resend is the first copy).
      const q2 = ensureQos2Queue(c, waits);
      let routed: readonly Queue[] = [];
      epoch = core.atomically(() => {
        routed = core.publish(exchange, msg).queues;
        core.publishToQueue(q2, marker('i', pid));
      });
      queues = routed;
      const got = core.get(c.consumers.open(), q2, false);
      session.awaitRelease(pid, got?.tag ?? 0);
    } else {
      ({ queues, epoch } = core.publish(exchange, msg));
      if (qos === 2) session.awaitRelease(pid, 0);
    }
  } catch (e) {
    if (isSwitchyardError(e) && e.code === 'ACCESS_REFUSED' && (qos === 0 || c.version !== 5)) {
      // Not allowed to publish there: dropped and counted, as Mosquitto does; a 3.1.1 client
      // still gets its PUBACK/PUBREC (it has no way to hear a refusal) so it does not resend.
      services.refusedPublishes++;
      if (qos === 0) return;
      if (qos === 2) session.awaitRelease(pid, 0);
      ackLater(c, qos, pid, Reason.SUCCESS, 0, []);
      return;
    }
    if (qos === 0 || c.version !== 5) throw e;
    ackLater(c, qos, pid, reasonOf(e), 0, []);
    return;
  }
  // Exactly one queue and not stored: one delivery at most, after whose write (and PUBACK)
  // the payload buffer can be reused (codec/payload-pool.ts).
  if (qos < 2 && queues.length === 1 && !p.retain && msg.storeId === 0) services.pool.seal(msg.body);
  if (qos === 0) return;
  const reason = queues.length === 0 && c.version === 5 ? Reason.NO_MATCHING_SUBSCRIBERS : Reason.SUCCESS;
  ackLater(c, qos, pid, reason, epoch, waits);
}

/** PUBACK (QoS 1) or PUBREC (QoS 2) once the message is safe. */
function ackLater(
  c: MqttContext,
  qos: number,
  pid: number,
  reason: number,
  epoch: number,
  waits: Promise<void>[],
): void {
  const type = qos === 1 ? PacketType.PUBACK : PacketType.PUBREC;
  // A QoS 2 publish counts against Receive Maximum until its PUBREL, unless refused (no PUBREL
  // follows a failed PUBREC [MQTT-4.3.3-9]).
  const untilRelease = qos === 2 && reason < 0x80;
  if (epoch === 0 && waits.length === 0 && c.replies.idle) {
    // Nothing to wait for and nothing queued before it: the common transient case, no Reply.
    c.ack(type, pid, reason);
    if (untilRelease) c.inboundInFlight++;
    return;
  }
  c.inboundInFlight++;
  c.replies.reply(
    () => {
      if (!untilRelease) c.inboundInFlight--;
      c.ack(type, pid, reason);
    },
    waits,
    epoch,
  );
}
