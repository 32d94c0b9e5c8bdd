/**
 * SUBSCRIBE and UNSUBSCRIBE: a binding from the MQTT exchange to the session queue per
 * subscription (a shared queue per `$share` group and filter), the session record kept in step,
 * and retained messages after the SUBACK.
 */
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { errorText, MqttError, Reason, reasonOf, reasonText } from './reason.js';
import { retainedCopy } from './map.js';
import { type QoS, type Subscription, sharedQueueName } from './session.js';
import { filterToBindingKey, parseShared, topicFilterError } from './topic.js';

export function onSubscribe(c: MqttConnection, p: ISubscribePacket): void {
  const fe = c.fe;
  const session = c.session!;
  const core = c.core!;
  const v5 = c.version === 5;
  if (p.subscriptions.length === 0) {
    throw new MqttError(Reason.PROTOCOL_ERROR, 'SUBSCRIBE without a topic filter');
  }
  const id = p.properties?.subscriptionIdentifier ?? 0;
  const granted: number[] = [];
  /** Why entries were refused, for the v5 Reason String. */
  const refusals: string[] = [];
  const waits: Promise<void>[] = [];
  const retainedFor: Subscription[] = [];
  let changed = false;
  for (const s of p.subscriptions) {
    const shared = parseShared(s.topic);
    let filter = s.topic;
    let group: string | undefined;
    if (shared !== undefined) {
      if ('error' in shared) {
        granted.push(v5 ? Reason.TOPIC_FILTER_INVALID : 0x80);
        refusals.push(`'${s.topic}': ${shared.error}`);
        continue;
      }
      if (s.nl === true) throw new MqttError(Reason.PROTOCOL_ERROR, 'no-local on a shared subscription');
      filter = shared.filter;
      group = shared.group;
    }
    const bad = topicFilterError(filter);
    if (bad !== undefined) {
      granted.push(v5 ? Reason.TOPIC_FILTER_INVALID : 0x80);
      refusals.push(`'${s.topic}': ${bad}`);
      continue;
    }
    const sub: Subscription = {
      key: s.topic,
      filter,
      group,
      qos: Math.min(s.qos, 2) as QoS,
      noLocal: s.nl === true,
      retainAsPublished: s.rap === true,
      retainHandling: s.rh ?? 0,
      id,
    };
    const existed = session.subscriptions.has(sub.key);
    try {
      if (group === undefined) {
        c.ensureQueue(waits);
        collectWrite(
          waits,
          core.bindQueue(session.queue, fe.settings.exchange, filterToBindingKey(filter), {}),
        );
      } else {
        const q = sharedQueueName(group, filter);
        const declared = fe.internal.declareQueue(q, {
          durable: true,
          exclusive: false,
          autoDelete: false,
          args: {},
          passive: false,
        });
        collectWrite(waits, declared.written);
        collectWrite(waits, fe.internal.bindQueue(q, fe.settings.exchange, filterToBindingKey(filter), {}));
      }
    } catch (e) {
      // A filter too long for a binding key is an invalid filter here (0x90 is a PUBACK code).
      const reason = reasonOf(e);
      granted.push(!v5 ? 0x80 : reason === Reason.TOPIC_NAME_INVALID ? Reason.TOPIC_FILTER_INVALID : reason);
      refusals.push(`'${s.topic}': ${errorText(e)}`);
      continue;
    }
    session.subs().set(sub.key, sub);
    changed = true;
    granted.push(sub.qos);
    if (group === undefined && (sub.retainHandling === 0 || (sub.retainHandling === 1 && !existed))) {
      retainedFor.push(sub);
    }
    if (group !== undefined) c.consumeShared(sub);
  }
  if (changed) {
    waits.push(fe.saveSession(session));
    c.refreshSessionConsumer();
  }
  const pid = p.messageId ?? 0;
  c.reply(() => {
    c.writer.send(
      v5 && refusals.length > 0
        ? { cmd: 'suback', messageId: pid, granted, properties: { reasonString: refusals.join('; ') } }
        : { cmd: 'suback', messageId: pid, granted },
    );
    // Retained messages follow the SUBACK, through the session queue (so credit and order hold).
    const now = Date.now();
    for (const sub of retainedFor) {
      for (const m of fe.retained.match(sub.filter, now)) {
        try {
          core.publishToQueue(session.queue, retainedCopy(m));
        } catch {
          // the session queue is gone (connection closing)
        }
      }
    }
  }, waits);
}

export function onUnsubscribe(c: MqttConnection, p: IUnsubscribePacket): void {
  const fe = c.fe;
  const session = c.session!;
  const core = c.core!;
  if (p.unsubscriptions.length === 0) {
    throw new MqttError(Reason.PROTOCOL_ERROR, 'UNSUBSCRIBE without a topic filter');
  }
  const codes: number[] = [];
  const waits: Promise<void>[] = [];
  for (const key of p.unsubscriptions) {
    const sub = session.subscriptions.get(key);
    if (sub === undefined) {
      const shared = parseShared(key);
      const invalid =
        shared !== undefined
          ? 'error' in shared || topicFilterError(shared.filter) !== undefined
          : topicFilterError(key) !== undefined;
      codes.push(invalid ? Reason.TOPIC_FILTER_INVALID : Reason.NO_SUBSCRIPTION_EXISTED);
      continue;
    }
    session.subscriptions.delete(key);
    if (sub.group === undefined) {
      collectWrite(
        waits,
        core.unbindQueue(session.queue, fe.settings.exchange, filterToBindingKey(sub.filter), {}),
      );
    } else {
      const tag = `share:${key}`;
      c.coreSession?.removeConsumer(tag);
      c.sharedSubs.delete(tag);
      fe.leaveShared(session, sub.group, sub.filter, (q) => {
        collectWrite(waits, fe.internal.deleteQueue(q, false, false).written);
      });
    }
    codes.push(Reason.SUCCESS);
  }
  waits.push(fe.saveSession(session));
  c.refreshSessionConsumer();
  const pid = p.messageId ?? 0;
  c.reply(() => {
    // mqtt-packet takes a v5 UNSUBACK's reason codes as `granted`; 3.1.1 has none.
    const v5 = c.version === 5;
    const failed = codes.some((c) => c !== 0);
    c.writer.send(
      v5 && failed
        ? {
            cmd: 'unsuback',
            messageId: pid,
            granted: codes,
            properties: { reasonString: codes.map(reasonText).join('; ') },
          }
        : { cmd: 'unsuback', messageId: pid, granted: v5 ? codes : [] },
    );
  }, waits);
}

/** Adds the definition write an operation started (if any) to what a reply waits for. */
export function collectWrite(waits: Promise<void>[], w: Promise<void> | undefined): void {
  if (w !== undefined) waits.push(w);
}
