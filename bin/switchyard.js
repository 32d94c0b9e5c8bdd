#!/usr/bin/env -S node --max-semi-space-size=2
// Runs the compiled CLI (npm install builds dist/ through the prepare script). The young
// generation is capped at 2 MiB: idle connections then cost ~30% less RSS at the same throughput
// (docs/benchmarks.md); `node bin/switchyard.js` without the flag works too.
import('../dist/cli/main.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('switchyard: dist/ is missing; run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw e;
});
