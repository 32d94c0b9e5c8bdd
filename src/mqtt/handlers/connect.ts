/**
 * CONNECT (section 3.1): the plan (connect-plan.ts) decides every refusal up front; then the
 * live connection of the same client id is taken over [MQTT-3.1.4-3], the session is resumed or
 * begun [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6], and the CONNACK goes once what it reports
 * is durable.
 */
import { Pause } from '../../core/index.js';
import { isSwitchyardError, SwitchyardError } from '../../errors/index.js';
import type { ConnectPacket } from '../codec/index.js';
import { connackProperties, identifyClient, planConnect } from '../connect-plan.js';
import type { ConnectContext } from '../context.js';
import { errorText } from '../log.js';
import { reloadQos2Markers, resendReleases } from '../qos2-markers.js';

export function onConnect(c: ConnectContext, p: ConnectPacket): void {
  const { broker, settings } = c.services;
  c.useVersion(p.protocolVersion === 5 ? 5 : 4);
  // Packets behind the CONNECT wait until the password is checked (off the event loop).
  c.holdInput();
  identifyClient(
    p,
    settings,
    c.remoteAddress,
    (user, password, address) => broker.authenticate(user, password, address),
    c.certUser,
  )
    .then((who) => {
      if (c.closed) return;
      if ('refuse' in who) return c.refuse(who.refuse);
      connectAs(c, p, who.user);
      c.releaseInput();
    })
    .catch((e: unknown) => c.fail(e));
}

/** The CONNECT of an authenticated user: session takeover, resume or start, then CONNACK. */
function connectAs(c: ConnectContext, p: ConnectPacket, user: string): void {
  const services = c.services;
  const { broker, settings, sessions } = services;
  const decision = planConnect(p, settings, user, services.clock.now());
  if ('refuse' in decision) return c.refuse(decision.refuse);
  const plan = decision.plan;
  const owner = sessions.get(plan.clientId)?.user;
  if (owner !== undefined && owner !== plan.user) {
    // Mosquitto and EMQX let anyone take a client id over; here a session is its user's.
    return c.refuse(
      new SwitchyardError(
        'ACCESS_REFUSED',
        `client identifier '${plan.clientId}' belongs to a session of another user`,
      ),
    );
  }
  let core: ReturnType<typeof broker.connect> | undefined;
  try {
    core = broker.connect({
      protocol: 'mqtt',
      remoteAddress: c.remoteAddress,
      user: plan.user,
      vhost: settings.vhost,
      clientName: plan.clientId,
    });
    // The will is published by the broker later, but with this user's rights: checked now.
    if (plan.will !== undefined) core.admitPublish(settings.exchange, plan.will.msg.routingKey, 'accept');
  } catch (e) {
    core?.close();
    // A connection limit or rate: its own code (v5 0x97 / 0x9F; 3.1.1: server unavailable).
    if (isSwitchyardError(e) && (e.code === 'CONNECTION_LIMIT' || e.code === 'CONNECTION_RATE'))
      return c.refuse(e);
    // An unknown vhost, a user without access to it or to its will topic: not authorized (0x87).
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
  session.user = plan.user;
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
