// @ts-check
// Flat ESLint config for autocore-ipc.
//
// Not type-aware on purpose (fast). Besides typescript-eslint's recommended
// rules it enforces the package's layering with `no-restricted-imports`:
//
//   src/core/** (incl. *.node.ts)    no Node builtins, no `ws`, no src/transports, no `Buffer`
//   src/** (except *.node.ts and     no Node builtins (the browser entry must stay clean)
//           src/node.ts)
//   bridge/**, web-demo/**           no `../src/...` paths: import `autocore-ipc` / `autocore-ipc/node`
//   test/unit/core/**, test/browser/**  no Node builtins, no `ws`, no `Buffer` (they run in Chromium)
//
// Note: in flat config a later block replaces (does not merge) the options of a
// rule set by an earlier block, so every block below lists its complete set.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// `fs`, `fs/promises`, `net`, `buffer`, ... (bare names; `node:*` is handled by a pattern)
const bareBuiltins = [...new Set(builtinModules.filter((m) => !m.startsWith('_')))];

/** @param {string} message */
const builtinRestrictions = (message) => ({
  paths: bareBuiltins.map((name) => ({ name, message: `'${name}': ${message}` })),
  patterns: [
    { group: ['node:*'], message },
    {
      // The package's own Node entry point would drag Node code into the browser graph.
      group: ['autocore-ipc/node'],
      message: "'autocore-ipc/node' is Node-only; it cannot be imported from browser-safe code.",
    },
  ],
});

const nodeBuiltinRestrictions = builtinRestrictions(
  'Node builtins are not allowed here: this code must run in browsers. Put Node-only code in src/node.ts or a *.node.ts file.',
);

const coreBuiltins = builtinRestrictions(
  'Node builtins are not allowed in core (src/core runs unchanged in browsers and Node). Use web APIs, or move the code to src/transports / a *.node.ts file outside src/core.',
);
const wsMessage = 'Core must not depend on `ws`; transports live in src/transports.';
const coreRestrictions = {
  paths: [...coreBuiltins.paths, { name: 'ws', message: wsMessage }],
  patterns: [
    ...coreBuiltins.patterns,
    { group: ['ws/*'], message: wsMessage },
    {
      // ../transports, ../transports/tcp.ts, ../../src/transports/x.ts, src/transports/...
      regex: '(^|/)transports(/|$)',
      message: 'Core must not import from src/transports (core is transport-agnostic).',
    },
  ],
};

// Tests that also run inside Chromium: only web APIs (may import transports).
const inBrowserTestBuiltins = builtinRestrictions(
  'Node builtins are not available in the browser test project (test/unit/core and test/browser run inside Chromium).',
);
const wsTestMessage = '`ws` is Node-only; this test also runs inside Chromium.';
const inBrowserTestRestrictions = {
  paths: [...inBrowserTestBuiltins.paths, { name: 'ws', message: wsTestMessage }],
  patterns: [...inBrowserTestBuiltins.patterns, { group: ['ws/*'], message: wsTestMessage }],
};

const bufferRestriction = {
  name: 'Buffer',
  message: 'Buffer is Node-only. Use Uint8Array / TextEncoder / TextDecoder / DataView.',
};

const srcPathRestrictions = {
  patterns: [
    {
      // ../src/index.ts, ../../src/core/x.ts, ./src/...
      regex: '^(\\.{1,2}/)+(.*/)?src(/|$)',
      message:
        "Import the package by name ('autocore-ipc' or 'autocore-ipc/node'), not through ../src paths.",
    },
  ],
};

// Minimal global sets for plain JS files (TypeScript files do not use no-undef).
const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    'clearImmediate',
    'queueMicrotask',
    'structuredClone',
    'fetch',
    'performance',
    'globalThis',
  ].map((g) => [g, /** @type {const} */ ('readonly')]),
);
const browserGlobals = Object.fromEntries(
  [
    'window',
    'document',
    'navigator',
    'location',
    'console',
    'WebSocket',
    'URL',
    'URLSearchParams',
    'TextEncoder',
    'TextDecoder',
    'AbortController',
    'AbortSignal',
    'Event',
    'EventTarget',
    'CustomEvent',
    'MessageEvent',
    'CloseEvent',
    'HTMLElement',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'requestAnimationFrame',
    'cancelAnimationFrame',
    'queueMicrotask',
    'structuredClone',
    'fetch',
    'performance',
    'globalThis',
  ].map((g) => [g, /** @type {const} */ ('readonly')]),
);

export default defineConfig(
  globalIgnores([
    '**/node_modules/',
    '**/dist/',
    'web-demo/dist/',
    'coverage/',
    'test-artifacts/',
    'bench/results/',
  ]),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    name: 'autocore/base',
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          args: 'after-used',
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
    },
  },

  {
    name: 'autocore/js-node-globals',
    files: ['**/*.{js,mjs,cjs}'],
    ignores: ['web-demo/**'],
    languageOptions: { globals: nodeGlobals },
  },
  {
    name: 'autocore/js-browser-globals',
    files: ['web-demo/**/*.{js,mjs,cjs}'],
    languageOptions: { globals: browserGlobals },
  },

  // Browser-safe library code: everything in src/ except the Node entry points.
  {
    name: 'autocore/src-browser-safe',
    files: ['src/**/*.{ts,mts,cts,js,mjs}'],
    ignores: ['src/node.ts', 'src/**/*.node.ts'],
    rules: {
      'no-restricted-imports': ['error', nodeBuiltinRestrictions],
    },
  },

  // Core: transport- and platform-agnostic.
  {
    name: 'autocore/core',
    files: ['src/core/**/*.{ts,mts,cts,js,mjs}'],
    rules: {
      'no-restricted-imports': ['error', coreRestrictions],
      'no-restricted-globals': ['error', bufferRestriction],
    },
  },

  // Tests that the `browser` vitest project runs inside Chromium.
  {
    name: 'autocore/in-browser-tests',
    files: ['test/unit/core/**/*.{ts,mts,cts,js,mjs}', 'test/browser/**/*.{ts,mts,cts,js,mjs}'],
    rules: {
      'no-restricted-imports': ['error', inBrowserTestRestrictions],
      'no-restricted-globals': ['error', bufferRestriction],
    },
  },

  // Consumers of the package must go through its public entry points.
  {
    name: 'autocore/consumers',
    files: [
      'bridge/**/*.{ts,mts,cts,js,mjs,cjs,tsx,jsx}',
      'web-demo/**/*.{ts,mts,cts,js,mjs,cjs,tsx,jsx}',
    ],
    rules: {
      'no-restricted-imports': ['error', srcPathRestrictions],
    },
  },
);
