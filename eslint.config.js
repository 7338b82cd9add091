import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const serviceImports = {
  group: ['@fjord/scheduler', '@fjord/worker', '@fjord/cli', '**/services/**'],
  message: 'packages never import services',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'packages/proto/src/gen/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'export names explicitly (STYLE.md item 5)' },
        { selector: 'TSEnumDeclaration', message: 'use a const object and a type (STYLE.md item 13)' },
      ],
    },
  },
  {
    files: ['packages/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [serviceImports] }] },
  },
  {
    // The pure core (STYLE.md items 1-4): no I/O, no clock, no randomness.
    files: ['packages/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            serviceImports,
            { group: ['node:*', 'fs', 'net', 'child_process', 'os', 'path'], message: 'packages/core is pure: no node built-ins' },
            { group: ['kysely', 'kysely-*', 'postgres'], message: 'packages/core is pure: no database' },
            { group: ['@nats-io/*'], message: 'packages/core is pure: no NATS' },
            { group: ['@grpc/*', 'grpc-health-check'], message: 'packages/core is pure: no gRPC' },
            { group: ['@fjord/store', '@fjord/bus', '@fjord/lab', '@fjord/config'], message: 'packages/core is pure: no I/O packages' },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'pass `now` in; packages/core has no clock' },
        { object: 'Math', property: 'random', message: 'packages/core is deterministic' },
        { object: 'process', message: 'packages/core has no process' },
      ],
      'no-restricted-globals': ['error', { name: 'process', message: 'packages/core has no process' }, { name: 'setTimeout', message: 'packages/core has no timers' }, { name: 'fetch', message: 'packages/core does no I/O' }],
    },
  },
);
