/**
 * The connection class on channel 0 (0-9-1 section 1.4.2): start → start-ok → tune → tune-ok →
 * open → open-ok, then update-secret and close. dispatch.ts calls each handler only in the state
 * where its method is expected.
 */
import { SwitchyardError } from '../../errors/index.js';
import { FRAME_MIN_SIZE, type Method } from '../codec/index.js';
import { MECHANISMS, MECHANISMS_WITH_EXTERNAL, parseCredentials } from '../sasl.js';
import type { ConnectionContext } from './context.js';

/** Sends connection.start once the protocol header is accepted. */
export function sendStart(ctx: ConnectionContext): void {
  ctx.send(0, {
    kind: 'connection.start',
    versionMajor: 0,
    versionMinor: 9,
    serverProperties: {
      product: 'Switchyard',
      version: ctx.settings.version,
      platform: `Node.js ${process.version}`,
      copyright: 'Switchyard authors',
      information: 'https://github.com/switchyard',
      capabilities: {
        publisher_confirms: true,
        exchange_exchange_bindings: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        authentication_failure_close: true,
        per_consumer_qos: true,
        direct_reply_to: true,
      },
    },
    mechanisms: ctx.certUser === undefined ? MECHANISMS : MECHANISMS_WITH_EXTERNAL,
    locales: 'en_US',
  });
}

/**
 * start-ok: checks the credentials (asynchronously: a password hash is computed off the event
 * loop, and a wrong password is answered only after the failure delay), then offers the limits in
 * connection.tune. A client sends nothing more until it has the tune.
 */
export function startOk(ctx: ConnectionContext, m: Method<'connection.start-ok'>): void {
  ctx.loggingIn();
  const checked = m.mechanism === 'EXTERNAL' ? Promise.resolve(externalUser(ctx)) : passwordUser(ctx, m);
  checked
    .then((user) => {
      if (ctx.state !== 'login') return; // closed meanwhile
      if (user === undefined) return refuseLogin(ctx, m);
      ctx.loggedIn(user, {
        consumerCancelNotify: capability(m.clientProperties, 'consumer_cancel_notify'),
        connectionBlocked: capability(m.clientProperties, 'connection.blocked'),
      });
      const s = ctx.settings;
      ctx.send(0, {
        kind: 'connection.tune',
        channelMax: s.channelMax,
        frameMax: s.frameMax,
        heartbeat: s.heartbeat,
      });
      ctx.loginFinished();
    })
    .catch((e: unknown) => ctx.fail(e));
}

function refuseLogin(ctx: ConnectionContext, m: Method<'connection.start-ok'>): void {
  if (!capability(m.clientProperties, 'authentication_failure_close')) {
    // A client that did not announce authentication_failure_close takes a dropped socket as
    // the refusal and may not expect connection.close here (RabbitMQ does the same).
    ctx.drop();
    return;
  }
  ctx.failedMethod = undefined; // RabbitMQ's refusal names no method (class-id 0)
  ctx.fail(
    new SwitchyardError(
      'AUTHENTICATION_FAILED',
      `Login was refused using authentication mechanism ${m.mechanism}. For details see the broker logfile.`,
    ),
  );
}

/** PLAIN or AMQPLAIN: the user, if the password is right. */
async function passwordUser(
  ctx: ConnectionContext,
  m: Method<'connection.start-ok'>,
): Promise<string | undefined> {
  const creds = parseCredentials(m.mechanism, m.response);
  if (creds === undefined) return undefined;
  return (await ctx.broker.authenticate(creds.user, creds.password, ctx.remoteAddress))
    ? creds.user
    : undefined;
}

/**
 * EXTERNAL: the verified certificate's CN, if that user exists (and may connect from here). The
 * response (an authorization identity) is ignored, as RabbitMQ does; EXTERNAL without a verified
 * certificate is refused like any failed login.
 */
function externalUser(ctx: ConnectionContext): string | undefined {
  const user = ctx.certUser;
  if (user === undefined || ctx.settings.userExists?.(user, ctx.remoteAddress) !== true) return undefined;
  return user;
}

/** tune-ok: the client's frame_max, channel_max and heartbeat, within what we offered. */
export function tuneOk(ctx: ConnectionContext, m: Method<'connection.tune-ok'>): void {
  const max = ctx.settings.frameMax;
  const fm = m.frameMax === 0 ? max : m.frameMax;
  if (fm < FRAME_MIN_SIZE || fm > max) {
    throw new SwitchyardError(
      'NOT_ALLOWED',
      `negotiated frame_max = ${m.frameMax} is outside the range ${FRAME_MIN_SIZE}..${max}`,
    );
  }
  const offered = ctx.settings.channelMax;
  ctx.tuned(fm, m.channelMax === 0 ? offered : Math.min(m.channelMax, offered), m.heartbeat);
}

/** connection.open: a core connection in the virtual host (the core refuses unknown ones, 530). */
export function open(ctx: ConnectionContext, m: Method<'connection.open'>): void {
  const core = ctx.broker.connect({
    protocol: 'amqp',
    remoteAddress: ctx.remoteAddress,
    user: ctx.user,
    vhost: m.virtualHost,
  });
  ctx.opened(core);
  ctx.send(0, { kind: 'connection.open-ok' });
  if (ctx.broker.publishersBlocked) ctx.blockedChanged(true, ctx.broker.blockedReason);
}

/** connection.update-secret: no token-based authentication yet, so the new secret is accepted as is. */
export function updateSecret(ctx: ConnectionContext): void {
  ctx.send(0, { kind: 'connection.update-secret-ok' });
}

/** channel.open: a new channel, if its number is free and within channel_max. */
export function channelOpen(ctx: ConnectionContext, id: number): void {
  if (ctx.state !== 'running') {
    throw new SwitchyardError('COMMAND_INVALID', `channel.open before the connection is open`);
  }
  if (ctx.hasChannel(id)) throw new SwitchyardError('CHANNEL_ERROR', `second 'channel.open' seen`);
  if (id > ctx.channelMax) {
    throw new SwitchyardError(
      'NOT_ALLOWED',
      `channel number ${id} exceeds the negotiated channel_max ${ctx.channelMax}`,
    );
  }
  ctx.openChannel(id);
  ctx.send(id, { kind: 'channel.open-ok' });
}

function capability(props: Record<string, unknown>, name: string): boolean {
  const caps = props.capabilities;
  return typeof caps === 'object' && caps !== null && (caps as Record<string, unknown>)[name] === true;
}
