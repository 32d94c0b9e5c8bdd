/**
 * SUBSCRIBE (section 3.8): a binding from the MQTT exchange to the session queue per
 * subscription (a shared queue per `$share` group and filter), the session record kept in step,
 * a SUBACK with a code per filter in order [MQTT-3.9.3-1], and retained messages after it.
 */
import { SwitchyardError } from '../../errors/index.js';
import { Reason, type SubscribePacket } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { errorText, warn } from '../log.js';
import { reasonOf, retainedCopy } from '../map.js';
import { type QoS, type Subscription, sharedQueueName } from '../session.js';
import { filterToBindingKey, parseShared, topicFilterError } from '../topic.js';

/** A filter refused in a 3.1.1 SUBACK (return code 0x80, Failure). */
const V3_FAILURE = 0x80;

export function onSubscribe(c: MqttContext, p: SubscribePacket): void {
  const { settings, internal, sessions, retained } = c.services;
  const session = c.session;
  const core = c.core;
  const v5 = c.version === 5;
  const id = (p.properties?.subscriptionIdentifier as number | undefined) ?? 0;
  const granted: number[] = [];
  /** Why entries were refused, for the v5 Reason String. */
  const refusals: string[] = [];
  const waits: Promise<void>[] = [];
  const retainedFor: Subscription[] = [];
  let changed = false;
  for (const s of p.subscriptions) {
    const shared = parseShared(s.topicFilter);
    let filter = s.topicFilter;
    let group: string | undefined;
    if (shared !== undefined) {
      if ('error' in shared) {
        granted.push(v5 ? Reason.TOPIC_FILTER_INVALID : V3_FAILURE);
        refusals.push(`'${s.topicFilter}': ${shared.error}`);
        continue;
      }
      // [MQTT-3.8.3-4]
      if (s.noLocal) throw new SwitchyardError('PROTOCOL_ERROR', 'no-local on a shared subscription');
      filter = shared.filter;
      group = shared.group;
    }
    const bad = topicFilterError(filter);
    if (bad !== undefined) {
      granted.push(v5 ? Reason.TOPIC_FILTER_INVALID : V3_FAILURE);
      refusals.push(`'${s.topicFilter}': ${bad}`);
      continue;
    }
    const sub: Subscription = {
      key: s.topicFilter,
      filter,
      group,
      qos: Math.min(s.qos, 2) as QoS,
      noLocal: s.noLocal,
      retainAsPublished: s.retainAsPublished,
      retainHandling: s.retainHandling,
      id,
    };
    const existed = session.subscriptions.has(sub.key);
    try {
      if (group === undefined) {
        c.consumers.ensureQueue(waits);
        collect(waits, core.bindQueue(session.queue, settings.exchange, filterToBindingKey(filter), {}));
      } else {
        const q = sharedQueueName(group, filter);
        const declared = internal.declareQueue(q, {
          durable: true,
          exclusive: false,
          autoDelete: false,
          args: {},
          passive: false,
        });
        collect(waits, declared.written);
        // Bound as the client: its read permissions on the exchange and the topic apply.
        collect(waits, core.bindQueue(q, settings.exchange, filterToBindingKey(filter), {}));
      }
    } catch (e) {
      // A filter too long for a binding key is an invalid filter here (0x90 is a PUBACK code).
      const reason = reasonOf(e);
      granted.push(
        !v5 ? V3_FAILURE : reason === Reason.TOPIC_NAME_INVALID ? Reason.TOPIC_FILTER_INVALID : reason,
      );
      refusals.push(`'${s.topicFilter}': ${errorText(e)}`);
      continue;
    }
    // [MQTT-3.8.4-3]: the same filter again replaces the subscription.
    session.subscribe(sub);
    changed = true;
    granted.push(sub.qos);
    // [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]
    if (group === undefined && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))) {
      retainedFor.push(sub);
    }
    if (group !== undefined) c.consumers.consumeShared(sub);
  }
  if (changed) {
    waits.push(sessions.save(session));
    c.consumers.refresh();
  }
  const pid = p.packetId;
  c.replies.reply(() => {
    c.writer.suback(
      pid,
      granted,
      v5 && refusals.length > 0 ? { reasonString: refusals.join('; ') } : undefined,
    );
    // Retained messages follow the SUBACK, through the session queue (so credit and order hold).
    const now = c.services.clock.now();
    for (const sub of retainedFor) {
      for (const m of retained.match(sub.filter, now)) {
        try {
          core.publishToQueue(session.queue, retainedCopy(m));
        } catch (e) {
          // The session queue went away: the connection is closing (or an AMQP client deleted
          // it, which cancels the subscription and ends the connection too).
          warn(`retained message for '${session.clientId}'`)(e);
          return;
        }
      }
    }
  }, waits);
}

/** Adds the definition write an operation started (if any) to what a reply waits for. */
function collect(waits: Promise<void>[], w: Promise<void> | undefined): void {
  if (w !== undefined) waits.push(w);
}
