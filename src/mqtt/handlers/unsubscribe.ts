/**
 * UNSUBSCRIBE (section 3.10): each filter's binding (or shared-subscription membership) goes
 * [MQTT-3.10.4-1]; the UNSUBACK has a code per filter in v5 [MQTT-3.11.3-1], none in 3.1.1.
 */
import { Reason, type UnsubscribePacket } from '../codec/index.js';
import type { MqttContext } from '../context.js';
import { reasonText } from '../map.js';
import { filterToBindingKey, parseShared, topicFilterError } from '../topic.js';

export function onUnsubscribe(c: MqttContext, p: UnsubscribePacket): void {
  const { settings, internal, sessions } = c.services;
  const session = c.session;
  const codes: number[] = [];
  const waits: Promise<void>[] = [];
  for (const key of p.topicFilters) {
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
    session.unsubscribe(key);
    if (sub.group === undefined) {
      const w = c.core.unbindQueue(session.queue, settings.exchange, filterToBindingKey(sub.filter), {});
      if (w !== undefined) waits.push(w);
    } else {
      c.consumers.stopShared(key);
      sessions.leaveShared(session, sub.group, sub.filter, (q) => {
        const w = internal.deleteQueue(q, false, false).written;
        if (w !== undefined) waits.push(w);
      });
    }
    codes.push(Reason.SUCCESS);
  }
  waits.push(sessions.save(session));
  c.consumers.refresh();
  const pid = p.packetId;
  c.replies.reply(() => {
    const failed = codes.some((code) => code !== 0);
    c.writer.unsuback(
      pid,
      codes,
      c.version === 5 && failed ? { reasonString: codes.map(reasonText).join('; ') } : undefined,
    );
  }, waits);
}
