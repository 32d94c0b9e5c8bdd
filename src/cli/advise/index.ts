/**
 * `switchyard advise` (issue 8): placeholder until the advisor lands.
 */
export async function run(_argv: string[]): Promise<void> {
  process.stderr.write('switchyard advise: not built yet\n');
  process.exitCode = 2;
}
