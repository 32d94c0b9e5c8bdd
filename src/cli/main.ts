/**
 * The `switchyard` command: starts the broker with an embedded default configuration.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { loadConfig, parseScalar } from '../config/load.js';
import { redactConfig } from '../config/redact.js';
import { OPTION_DOCS } from '../config/schema.js';
import { isSwitchyardError } from '../errors/index.js';
import { startServer } from '../server/index.js';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function portOption(flag: string, path: string): Option {
  const d = OPTION_DOCS.find((o) => o.path === path)!;
  return new Option(`${flag} <port>`, `${d.doc} [env ${d.env}]`);
}

/** Subcommands, loaded only when used: the broker's start-up does not pay for them. */
const SUBCOMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<void> }>> = {
  bench: () => import('./bench/index.js'),
  advise: () => import('./advise/index.js'),
  'hash-password': () => import('./hash-password/index.js'),
};

export async function main(argv: string[]): Promise<void> {
  const sub = argv[2] === undefined ? undefined : SUBCOMMANDS[argv[2]];
  if (sub !== undefined) return (await sub()).run(argv.slice(3));
  const program = new Command('switchyard')
    .description(
      'Switchyard message broker. Starts with an embedded default: AMQP 0-9-1 on 5672, MQTT on 1883, HTTP (MQTT over WebSocket at /mqtt) on 8080, user guest/guest (loopback only).',
    )
    .version(version)
    .option('--config <file>', 'YAML configuration file (see docs/configuration.md)')
    .option('--host <address>', 'address every listener binds to [env SWITCHYARD_HOST] (default 0.0.0.0)')
    .option('--data-dir <dir>', 'data directory [env SWITCHYARD_DATA_DIR] (default ./data)')
    .addOption(portOption('--amqp-port', 'amqp.port'))
    .addOption(portOption('--mqtt-port', 'mqtt.port'))
    .addOption(portOption('--http-port', 'http.port'))
    .addOption(portOption('--grpc-port', 'grpc.port'))
    // TLS (issue 15)
    .addOption(portOption('--amqps-port', 'amqp.tlsPort'))
    .addOption(portOption('--mqtts-port', 'mqtt.tlsPort'))
    .addOption(portOption('--https-port', 'http.tlsPort'))
    .addOption(portOption('--grpcs-port', 'grpc.tlsPort'))
    .option('--print-config', 'print the effective configuration as JSON (passwords redacted) and exit')
    .addHelpText(
      'after',
      '\nPorts take a number, 0 for an ephemeral port, or "off".\nEvery option can also be set in the config file or the environment; see docs/configuration.md.',
    );
  program.parse(argv);
  const o = program.opts<{
    config?: string;
    host?: string;
    dataDir?: string;
    amqpPort?: string;
    mqttPort?: string;
    httpPort?: string;
    grpcPort?: string;
    // TLS (issue 15)
    amqpsPort?: string;
    mqttsPort?: string;
    httpsPort?: string;
    grpcsPort?: string;
    printConfig?: boolean;
  }>();

  const config = loadConfig({
    file: o.config,
    overrides: {
      host: o.host,
      dataDir: o.dataDir,
      'amqp.port': o.amqpPort === undefined ? undefined : parseScalar(o.amqpPort),
      'mqtt.port': o.mqttPort === undefined ? undefined : parseScalar(o.mqttPort),
      'http.port': o.httpPort === undefined ? undefined : parseScalar(o.httpPort),
      'grpc.port': o.grpcPort === undefined ? undefined : parseScalar(o.grpcPort),
      // TLS (issue 15)
      'amqp.tlsPort': o.amqpsPort === undefined ? undefined : parseScalar(o.amqpsPort),
      'mqtt.tlsPort': o.mqttsPort === undefined ? undefined : parseScalar(o.mqttsPort),
      'http.tlsPort': o.httpsPort === undefined ? undefined : parseScalar(o.httpsPort),
      'grpc.tlsPort': o.grpcsPort === undefined ? undefined : parseScalar(o.grpcsPort),
    },
  });
  if (o.printConfig) {
    // Passwords and hashes never reach a terminal or a log (docs/security.md).
    process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
    return;
  }
  const server = await startServer(config, version);
  for (const l of server.listeners) {
    process.stdout.write(`switchyard: ${l.protocol} listening on ${l.host}:${l.port}\n`);
  }
  const r = server.recovery;
  process.stdout.write(
    `switchyard: recovered ${r.queues} durable queues with ${r.messages} messages in ${r.durationMs} ms` +
      (r.corruptRecords > 0 ? ` (${r.corruptRecords} damaged records skipped)` : '') +
      (r.truncatedBytes > 0 ? ` (torn tail of ${r.truncatedBytes} bytes cut)` : '') +
      '\n',
  );
  process.stdout.write(`switchyard ${version} ready (data dir ${config.dataDir})\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`switchyard: ${signal}, shutting down\n`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    server.close().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`switchyard: shutdown failed: ${String(e)}\n`);
        process.exit(1);
      },
    );
  };
  // TLS (issue 15): SIGHUP reads the certificate files again (the result goes to stderr).
  process.on('SIGHUP', () => {
    if (server.reloadTls() === undefined)
      process.stderr.write('switchyard: SIGHUP: no tls section, nothing to reload\n');
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main(process.argv).catch((e: unknown) => {
  if (isSwitchyardError(e)) process.stderr.write(`switchyard: ${e.message}\n`);
  else process.stderr.write(`switchyard: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
