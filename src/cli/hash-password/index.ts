/**
 * `switchyard hash-password`: prints a password in the broker's hash form (scrypt), for the
 * `passwordHash` of a user in the configuration. The password is read from standard input (a
 * line, or everything when it is not a terminal), never from the command line, where other users
 * of the machine could see it in the process list.
 */
import { createInterface } from 'node:readline';
import { hashPassword } from '../../auth/index.js';

const USAGE = `Usage: switchyard hash-password < password-file
       echo -n 's3cret' | switchyard hash-password

Reads a password from standard input (its first line) and prints its hash for the configuration:
  users:
    alice: { passwordHash: '<the printed line>', tags: [administrator] }
`;

async function readPassword(): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  return '';
}

export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  if (argv.length > 0) {
    process.stderr.write(`switchyard hash-password: unexpected argument ${argv[0]}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const password = await readPassword();
  if (password === '') {
    process.stderr.write('switchyard hash-password: no password on standard input\n');
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
}
