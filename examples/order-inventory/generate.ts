// Regenerates gen/ from proto/: `npx tsx examples/order-inventory/generate.ts` (from anywhere).
// buf resolves imports only inside one workspace, and google/api lives in the repository's own
// proto/ module, which must not take in the example's files (its lint and `npm run proto` would
// change). So both are copied into a throwaway workspace, linted there, and generated from there.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const work = mkdtempSync(join(tmpdir(), 'order-inventory-proto-'));
try {
  cpSync(join(here, 'proto'), join(work, 'example'), { recursive: true });
  cpSync(join(root, 'proto/google'), join(work, 'deps/google'), { recursive: true });
  writeFileSync(
    join(work, 'buf.yaml'),
    `version: v2
modules:
  - path: example
  - path: deps
lint:
  use: [STANDARD]
  # The services keep the names of the guide (Inventory, Orders) and its message names
  # (UpdateStock takes an OrderItem).
  except: [SERVICE_SUFFIX, RPC_REQUEST_STANDARD_NAME, RPC_RESPONSE_STANDARD_NAME, RPC_REQUEST_RESPONSE_UNIQUE]
  ignore: [deps]
`,
  );
  writeFileSync(
    join(work, 'buf.gen.yaml'),
    `version: v2
plugins:
  - local: ${join(root, 'node_modules/.bin/protoc-gen-es')}
    out: ${join(here, 'gen')}
    include_imports: true
    opt: [target=ts, import_extension=js]
clean: true
`,
  );
  const buf = join(root, 'node_modules/.bin/buf');
  execFileSync(buf, ['lint'], { cwd: work, stdio: 'inherit' });
  execFileSync(buf, ['generate'], { cwd: work, stdio: 'inherit' });
} finally {
  rmSync(work, { recursive: true, force: true });
}
