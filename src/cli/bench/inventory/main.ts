/**
 * The Inventory service as a process of its own: `switchyard bench` starts it for its RPC rows (as
 * dist/cli/bench/inventory/main.js, no tsx), and `tsx src/cli/bench/inventory/main.ts [PORT]` runs
 * it by hand (default port 50061; INVENTORY_SEED='{"widget":10}' replaces the seed stock,
 * INVENTORY_HOST the address). Prints "inventory listening on HOST:PORT" once it listens;
 * SIGINT/SIGTERM stop it.
 */
import { startInventoryService } from './service.js';

async function main(): Promise<void> {
  const seed = process.env.INVENTORY_SEED;
  const service = await startInventoryService({
    port: Number(process.argv[2] ?? 50061),
    host: process.env.INVENTORY_HOST ?? '127.0.0.1',
    ...(seed === undefined || seed === '' ? {} : { seed: JSON.parse(seed) as Record<string, number> }),
  });
  console.log(`inventory listening on ${new URL(service.url).host}`);
  const stop = (): void => {
    service.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error instanceof Error ? error.message : error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
