/**
 * The programs outside npm that some suites drive: Python clients (grpcio, pika, paho-mqtt),
 * Chromium, the Mosquitto and amqp-tools command-line clients, a reference RabbitMQ, and the
 * build in dist/. `npm test` must pass on a machine that has only Node, so a suite whose tool is
 * missing is skipped with one line naming what to install. `.ci/run` installs everything and sets
 * SWITCHYARD_REQUIRE_TOOLS=1: then a missing tool is a failing test, so CI cannot go green by
 * quietly running less.
 *
 * Each check is the real requirement (the Python module imports, the browser starts, the broker
 * answers), not only that a file exists. SWITCHYARD_ABSENT_TOOLS=chromium,python3-pika pretends
 * the listed tools are missing, to see what a fresh machine sees without uninstalling anything.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Debian's Python: the python3-* packages install into it, whatever `python3` is on PATH. */
export const PYTHON = '/usr/bin/python3';
/** PAHO_PYTHON may name another interpreter (a venv with paho-mqtt 2.x) to check both APIs. */
export const PAHO_PYTHON = process.env.PAHO_PYTHON ?? PYTHON;
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
const MOSQUITTO = ['/usr/bin/mosquitto_pub', '/usr/bin/mosquitto_sub'];
const AMQP_TOOLS = [
  'amqp-declare-queue',
  'amqp-publish',
  'amqp-consume',
  'amqp-get',
  'amqp-delete-queue',
].map((t) => `/usr/bin/${t}`);

interface Check {
  /** What to do about it, for the skip line: usually the Debian package to install. */
  readonly install: string;
  /** Resolves with why the tool cannot be used here, or undefined when it can. */
  readonly probe: () => Promise<string | undefined>;
}

const TOOLS = {
  'python3-grpcio': {
    install: 'apt-get install python3-grpcio',
    probe: () => pythonImports(PYTHON, ['grpc', 'google.protobuf']),
  },
  'python3-pika': { install: 'apt-get install python3-pika', probe: () => pythonImports(PYTHON, ['pika']) },
  'python3-paho-mqtt': {
    install: 'apt-get install python3-paho-mqtt',
    probe: () => pythonImports(PAHO_PYTHON, ['paho.mqtt.client']),
  },
  chromium: {
    install: 'apt-get install chromium',
    probe: async () => {
      const path = chromiumPath();
      if (path === undefined) return `none of ${CHROMIUM_PATHS.join(', ')} is executable`;
      return runs(path, ['--version']);
    },
  },
  'mosquitto-clients': {
    install: 'apt-get install mosquitto-clients',
    // stdbuf (coreutils) makes mosquitto_sub's lines arrive as they are printed.
    probe: async () => notExecutable([...MOSQUITTO, '/usr/bin/stdbuf']),
  },
  'amqp-tools': { install: 'apt-get install amqp-tools', probe: async () => notExecutable(AMQP_TOOLS) },
  rabbitmq: {
    install:
      'apt-get install rabbitmq-server, start it (scripts/ci-start-rabbitmq.sh) and set RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672',
    probe: () => rabbitmqAnswers(),
  },
  openssl: { install: 'apt-get install openssl', probe: async () => notExecutable(['/usr/bin/openssl']) },
  curl: { install: 'apt-get install curl', probe: async () => notExecutable(['/usr/bin/curl']) },
  build: {
    install: 'npm run build (npm install runs it)',
    probe: async () => (existsSync(join(ROOT, 'dist/cli/main.js')) ? undefined : 'dist/ is missing'),
  },
} satisfies Record<string, Check>;

export type Tool = keyof typeof TOOLS;

/** SWITCHYARD_REQUIRE_TOOLS=1: a missing tool fails the run instead of skipping a suite. */
export const toolsRequired = process.env.SWITCHYARD_REQUIRE_TOOLS === '1';

const pretendAbsent = new Set(
  (process.env.SWITCHYARD_ABSENT_TOOLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== ''),
);

/** One probe per tool and process: several suites of a file may ask. */
const probes = new Map<Tool, Promise<string | undefined>>();

function probe(tool: Tool): Promise<string | undefined> {
  let p = probes.get(tool);
  if (p === undefined) {
    p = pretendAbsent.has(tool) ? Promise.resolve('SWITCHYARD_ABSENT_TOOLS names it') : TOOLS[tool].probe();
    probes.set(tool, p);
  }
  return p;
}

/**
 * Why a suite needing `tools` cannot run on this machine, as one line naming what to install;
 * undefined when everything is there.
 */
export async function missingTools(...tools: Tool[]): Promise<string | undefined> {
  const found = await Promise.all(tools.map(async (t) => [t, await probe(t)] as const));
  const absent = found.filter(([, why]) => why !== undefined);
  if (absent.length === 0) return undefined;
  const what = absent.map(([t, why]) => `${t} (${why})`).join(', ');
  const todo = [...new Set(absent.map(([t]) => TOOLS[t].install))].join('; ');
  return `needs ${what}: ${todo}`;
}

/**
 * The value for node:test's `skip` option of a suite that needs `tools`: false when they are all
 * there, else the one-line reason. Under SWITCHYARD_REQUIRE_TOOLS=1 a missing tool also adds a
 * failing test that says what is missing (the suite itself is still skipped, so it does not fail
 * a second time with an error that hides the cause).
 */
export async function skipUnless(...tools: Tool[]): Promise<string | false> {
  const why = await missingTools(...tools);
  if (why === undefined) return false;
  if (toolsRequired) {
    test(`tools: ${tools.join(', ')} (SWITCHYARD_REQUIRE_TOOLS=1)`, () => {
      throw new Error(why);
    });
  }
  return why;
}

/** The Chromium executable, if there is one. */
export function chromiumPath(): string | undefined {
  return CHROMIUM_PATHS.find(isExecutable);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch (e) {
    // ENOENT or EACCES: not usable, which is the answer; anything else is a real problem.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES')
      return false;
    throw e;
  }
}

function notExecutable(paths: readonly string[]): string | undefined {
  const absent = paths.filter((p) => !isExecutable(p));
  return absent.length === 0 ? undefined : `no ${absent.join(', ')}`;
}

/** Runs `file args` (bounded); undefined when it exits 0, else what went wrong in a few words. */
function runs(file: string, args: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err === null) resolve(undefined);
      else {
        const detail = stderr.trim().split('\n').at(-1) || err.message.split('\n')[0];
        resolve(`${file} ${args.join(' ')} failed: ${detail}`);
      }
    });
  });
}

async function pythonImports(python: string, modules: readonly string[]): Promise<string | undefined> {
  if (!isExecutable(python)) return `no ${python}`;
  const failed = await runs(python, ['-c', `import ${modules.join(', ')}`]);
  return failed === undefined ? undefined : `${python} cannot import ${modules.join(', ')}`;
}

/** RABBITMQ_URL is set and a broker there completes an AMQP handshake. */
async function rabbitmqAnswers(): Promise<string | undefined> {
  const url = process.env.RABBITMQ_URL;
  if (url === undefined || url === '') return 'RABBITMQ_URL is not set';
  try {
    const conn = await amqp.connect(url, { timeout: 10_000 });
    await conn.close();
    return undefined;
  } catch (e) {
    return `nothing answers at RABBITMQ_URL: ${(e as Error).message}`;
  }
}
