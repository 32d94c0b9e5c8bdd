/** Where the bench/ scripts find the repository and the file they write their tables into. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DOCS_FILE = join(ROOT, 'docs', 'benchmarks.md');
