// typescript-eslint is here for the type-aware rules biome does not have: above all
// no-floating-promises (a dropped promise in a broker is a lost error or a lost message),
// and the folder boundaries of DESIGN.md section 8.
import tseslint from 'typescript-eslint';

const frontEnds = ['amqp', 'mqtt', 'grpc', 'ws', 'http', 'gateway'];
/** Relative imports of these folders (not npm packages of the same name, such as `ws`). */
const relativeTo = (folders) => `^\\.{1,2}/(?:\\.\\./)*(?:${folders.join('|')})(?:/|$)`;

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'data/**',
      'bin/**',
      'scratch/**',
      'src/gen/**',
      'examples/order-inventory/gen/**',
      'eslint.config.js',
    ],
  },
  {
    files: ['**/*.ts', '**/*.mjs'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        projectService: {
          // scripts/*.mjs are outside tsconfig.json; bench/ is TypeScript and in it.
          allowDefaultProject: ['scripts/*.mjs'],
        },
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'off' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts', 'src/util/**/*.ts', 'src/errors/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // src/gen is generated protobuf code: wire types, which the core knows nothing of.
              regex: relativeTo([...frontEnds, 'gen']),
              message: 'the core knows no protocol',
            },
          ],
        },
      ],
    },
  },
  {
    // DESIGN.md section 8: imports flow util → errors/config/observe → model → store → core.
    files: ['src/model/**/*.ts', 'src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: relativeTo([...frontEnds, 'core', 'server', 'cli']),
              message: 'the model and the store sit below the core: they import neither it nor a front end',
            },
          ],
        },
      ],
    },
  },
  ...frontEnds.map((fe) => ({
    files: [`src/${fe}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: relativeTo(frontEnds.filter((o) => o !== fe)),
              message: 'a front end never imports another front end',
            },
            { group: ['**/core/*', '!**/core/index.js'], message: 'front ends import only core/index.js' },
          ],
        },
      ],
    },
  })),
);
