/**
 * `switchyard bench` (issue 8): placeholder until the benchmark lands.
 */
export async function run(_argv: string[]): Promise<void> {
  process.stderr.write('switchyard bench: not built yet\n');
  process.exitCode = 2;
}
