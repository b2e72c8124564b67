// SPDX-License-Identifier: MIT
// npm run lint: `tsc --noEmit` (the strict compiler options of tsconfig.json)
// and these rules over src/, test/, bench/, harness/ and scripts/. Each rule
// is here for a mistake the compiler lets through.

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  // An eslint-disable comment must silence something, or it is a stale promise.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.cts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A promise nobody awaits loses its rejection: an unhandled error in a
      // tracer that must report every failure, or a test that passes before
      // its assertion runs. node:test's test() and describe() return promises
      // the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      // An async function where a callback's result is ignored (an event
      // handler, a forEach) drops its rejection the same way.
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      // `await` on a value that is not a promise is a misunderstanding of the API.
      '@typescript-eslint/await-thenable': 'error',
      // Types erased at build time stay visibly types: the bundle and the
      // module graph load only what runs.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // Code compiled from strings: only where it is the point (the row
      // writers compiled per layout), and said so where it is done.
      '@typescript-eslint/no-implied-eval': 'error',
      // `any` switches the strict compiler off for everything it touches.
      '@typescript-eslint/no-explicit-any': 'error',
      // Dead names hide dead code; `_name` marks an argument kept for its position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A switch over a union must handle every member (a new TCP state, a new mode).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // == coerces: 0 == '' is true. null checks included, spelled out.
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      // The control-character ranges in the quoting helper's patterns are the point.
      'no-control-regex': 'off',
    },
  },
  {
    // Plain JavaScript (the build's bundle script, this file): no type information.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
