/**
 * A child process of idle-fleet.ts: opens `--count` idle MQTT 3.1.1 connections (raw TCP, a
 * CONNECT with a clean session and keep-alive, then CONNACK), at most `--concurrency` connecting at
 * a time, round robin over its source addresses; holds them (PINGREQ every keep-alive / 2) until
 * told to close. JSON lines on stdout ('progress', 'opened', 'status', 'closed'); commands on stdin
 * ('status', 'close'; EOF = close). Bounded: a per-connection timeout, a time limit for opening, a
 * failure limit, and a hard exit after --max-life-s whatever the parent does.
 */
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';

const { values: o } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    count: { type: 'string' },
    'src-ip': { type: 'string', default: '' },
    prefix: { type: 'string', default: 'y' },
    concurrency: { type: 'string', default: '64' },
    keepalive: { type: 'string', default: '60' },
    'connect-timeout-ms': { type: 'string', default: '10000' },
    'max-open-s': { type: 'string', default: '120' },
    'max-failures': { type: 'string', default: '500' },
    'max-life-s': { type: 'string', default: '900' },
  },
  strict: true,
});

const say = (msg: object) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const port = Number(o.port);
const count = Number(o.count);
const keepalive = Number(o.keepalive);
const maxFailures = Number(o['max-failures']);
const sources = o['src-ip'].split(',').filter(Boolean);
setTimeout(() => process.exit(3), Number(o['max-life-s']) * 1000).unref();

const PINGREQ = mqttPacket.generate({ cmd: 'pingreq' });
const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });
const connectPacket = (clientId: string) =>
  mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive,
    clientId,
  });

const open: net.Socket[] = [];
let closing = false;
let dropped = 0;
let failed = 0;
const errors: Record<string, number> = {};
let firstError: string | null = null;

function openOne(i: number): Promise<void> {
  return new Promise((resolve) => {
    // Round robin over the source addresses: bind() searches one address's port space for a free
    // port, which gets slow with many thousands of sockets on it.
    const localAddress = sources.length > 0 ? sources[i % sources.length] : undefined;
    const sock = net.connect({
      host: o.host,
      port,
      noDelay: true,
      ...(localAddress === undefined ? {} : { localAddress }),
    });
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (err: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err !== null) {
        sock.destroy();
        failed++;
        errors[err] = (errors[err] ?? 0) + 1;
        firstError ??= err;
      } else {
        sock.removeAllListeners('data');
        sock.removeAllListeners('close');
        sock.on('data', () => {}); // PINGRESP: read and dropped
        sock.on('close', () => {
          if (!closing) dropped++;
        });
        open.push(sock);
      }
      resolve();
    };
    const timer = setTimeout(() => finish('timeout'), Number(o['connect-timeout-ms']));
    sock.on('connect', () => sock.write(connectPacket(`${o.prefix}${i.toString(36)}`)));
    sock.on('data', (d: Buffer) => {
      buf = buf.length > 0 ? Buffer.concat([buf, d]) : d;
      if (buf.length < 4) return;
      if (buf[0] !== 0x20 || buf[1] !== 0x02) finish('not a CONNACK');
      else finish(buf[3] === 0 ? null : `CONNACK return code ${buf[3]}`);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    sock.on('close', () => finish('closed before CONNACK'));
  });
}

async function closeAll(): Promise<void> {
  if (closing) return;
  closing = true;
  clearInterval(ping);
  const t0 = performance.now();
  // DISCONNECT and let the broker close first, so TIME_WAIT stays on its side and not on our
  // source ports (which would slow bind() on these addresses in the next run).
  await Promise.all(
    open.map(
      (s) =>
        new Promise<void>((done) => {
          if (s.destroyed) return done();
          const t = setTimeout(() => {
            s.destroy();
            done();
          }, 5000);
          s.once('close', () => {
            clearTimeout(t);
            done();
          });
          s.write(DISCONNECT);
        }),
    ),
  );
  say({ type: 'closed', close_s: (performance.now() - t0) / 1000 });
  process.exit(0);
}

const t0 = performance.now();
const maxOpenMs = Number(o['max-open-s']) * 1000;
let next = 0;
let stopReason: string | null = null;
const progress = setInterval(() => say({ type: 'progress', accepted: open.length, failed }), 2000);
const worker = async () => {
  while (next < count && stopReason === null) {
    if (performance.now() - t0 > maxOpenMs) stopReason = `time limit ${o['max-open-s']} s`;
    else if (failed > maxFailures) stopReason = `more than ${maxFailures} failures`;
    else await openOne(next++);
  }
};
await Promise.all(Array.from({ length: Math.min(Number(o.concurrency), count) }, worker));
clearInterval(progress);
say({
  type: 'opened',
  accepted: open.length,
  failed,
  errors,
  first_error: firstError,
  stop_reason: stopReason,
  open_s: (performance.now() - t0) / 1000,
  rss_mb: process.memoryUsage().rss / 1048576,
});
// Keep-alive pings, so the broker keeps the connections past 1.5 x keep-alive.
const ping = setInterval(
  () => {
    for (const s of open) if (!s.destroyed) s.write(PINGREQ);
  },
  Math.max(1000, (keepalive * 1000) / 2),
);
const commands = createInterface({ input: process.stdin });
commands.on('line', (l) => {
  if (l.trim() === 'status') say({ type: 'status', open: open.filter((s) => !s.destroyed).length, dropped });
  else if (l.trim() === 'close') void closeAll();
});
commands.on('close', () => void closeAll());
