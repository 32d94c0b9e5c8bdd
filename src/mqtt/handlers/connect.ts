/**
 * CONNECT (section 3.1): the plan (connect-plan.ts) decides every refusal up front; then the
 * live connection of the same client id is taken over [MQTT-3.1.4-3], the session is resumed or
 * begun [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6], and the CONNACK goes once what it reports
 * is durable.
 */
import { Pause } from '../../core/index.js';
import { SwitchyardError } from '../../errors/index.js';
import type { ConnectPacket } from '../codec/index.js';
import { connackProperties, planConnect } from '../connect-plan.js';
import type { ConnectContext } from '../context.js';
import { errorText } from '../log.js';
import { reloadQos2Markers, resendReleases } from '../qos2-markers.js';

export function onConnect(c: ConnectContext, p: ConnectPacket): void {
  const services = c.services;
  const { broker, settings, sessions } = services;
  c.useVersion(p.protocolVersion === 5 ? 5 : 4);
  const decision = planConnect(
    p,
    settings,
    c.remoteAddress,
    (user, password, address) => broker.authenticate(user, password, address),
    services.clock.now(),
    c.certUser,
  );
  if ('refuse' in decision) return c.refuse(decision.refuse);
  const plan = decision.plan;
  let core: ReturnType<typeof broker.connect>;
  try {
    core = broker.connect({
      protocol: 'mqtt',
      remoteAddress: c.remoteAddress,
      user: plan.user,
      vhost: settings.vhost,
      clientName: plan.clientId,
    });
  } catch (e) {
    // An unknown vhost, a user without access to it, a connection limit: not authorized (0x87).
    return c.refuse(new SwitchyardError('ACCESS_REFUSED', errorText(e)));
  }

  // Takeover: the live connection of this client id goes first (MQTT 5 section 3.1.4).
  let session = sessions.get(plan.clientId);
  session?.connection?.takeOver();
  session = sessions.get(plan.clientId);
  const waits: Promise<void>[] = [];
  let present = false;
  if (session !== undefined && p.clean) {
    waits.push(sessions.end(session));
    session = undefined;
  }
  if (session !== undefined) {
    present = true;
    sessions.cancelExpiry(session);
    sessions.cancelWill(session);
  } else {
    session = sessions.create(plan.clientId);
  }
  session.expiryInterval = plan.expiry;
  if (!present) session.durable = plan.expiry > 0;
  const ctx = c.begin(plan, core, session);
  // An idle connection should cost little: the session queue and its consumer come with the
  // first subscription, unless a resumed session already has them.
  if (present && session.durable) ctx.consumers.ensureQueue(waits);
  if (session.durable) waits.push(sessions.save(session));
  if (present && session.durable && session.hasQos2Queue) waits.push(reloadQos2Markers(ctx));

  c.established();
  const connack =
    ctx.version === 5
      ? connackProperties(plan, settings, p.properties?.requestResponseInformation === true)
      : undefined;
  ctx.replies.reply(() => {
    // [MQTT-3.2.2-2] [MQTT-3.2.2-3]: Session Present only when a session was resumed.
    ctx.writer.connack(present, 0, connack);
    ctx.connackSent();
    const cs = ctx.consumers.coreSession;
    if (cs !== undefined) {
      resendReleases(ctx);
      cs.resume(Pause.SETUP);
    }
  }, waits);
}
