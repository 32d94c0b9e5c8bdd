#!/usr/bin/env node
// Runs the compiled CLI (npm install builds dist/ through the prepare script).
import('../dist/cli/main.js').catch((e) => {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('switchyard: dist/ is missing; run `npm install` (or `npm run build`) first\n');
    process.exit(1);
  }
  throw e;
});
