import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import type { Plugin } from 'vite';
import { defineConfig } from 'vitest/config';
import { browserCommands } from './test/browser-setup/commands.ts';

/**
 * Test projects:
 *   unit        Node   test/unit/**, test/conformance/**
 *   integration Node   test/integration/** (real sockets; 30 s timeout, at most 2 files at once,
 *                      runs after the other two projects: sequence.groupOrder 1)
 *   reliability Node   test/reliability/** (one file at a time, last: groupOrder 3)
 *   browser     Chromium (vitest browser mode + playwright) test/unit/core/** + test/browser/**
 *               (its globalSetup, test/browser-setup/, runs a real IpcServer + bridge in Node)
 *
 * The browser project uses the system Chromium (Debian package `chromium`), never a
 * Playwright-downloaded browser. Override its path with CHROMIUM_PATH if needed.
 */

const src = (file: string) => fileURLToPath(new URL(`./src/${file}`, import.meta.url));

const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Self-imports by package name resolve to the TypeScript sources (mirrors the
// `source` condition of the exports map), so tests can `import ... from 'autocore-ipc'`.
const nodeAliases = [
  { find: /^autocore-ipc$/, replacement: src('index.ts') },
  { find: /^autocore-ipc\/node$/, replacement: src('node.ts') },
];
// The browser project: in Chromium the exports map's `browser` condition maps ./node to the
// stub; its Node side (globalSetup, which starts the IpcServer, the bridge and a TCP module)
// needs the real Node entry. Aliases apply to every environment, so ./node is resolved per
// environment by a plugin instead.
const browserAliases = [{ find: /^autocore-ipc$/, replacement: src('index.ts') }];
const nodeEntryPerEnvironment: Plugin = {
  name: 'autocore-ipc:node-entry-per-environment',
  enforce: 'pre',
  resolveId(id) {
    if (id !== 'autocore-ipc/node') return null;
    return this.environment.config.consumer === 'server' ? src('node.ts') : src('node-stub.ts');
  },
};

/** Projects explicitly selected on the command line (`--project x` / `--project=x`), if any. */
function selectedProjects(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--project' && argv[i + 1] !== undefined) out.push(argv[++i] ?? '');
    else if (arg.startsWith('--project=')) out.push(arg.slice('--project='.length));
  }
  return out;
}

function browserProjectSelected(): boolean {
  const selected = selectedProjects(process.argv);
  if (selected.length === 0) return true;
  return selected.some((p) => p.startsWith('!') || p.includes('*') || p.startsWith('browser'));
}

// Fail loudly instead of silently skipping the browser tests.
if (!existsSync(CHROMIUM_PATH) && browserProjectSelected()) {
  throw new Error(
    `[vitest.config] Chromium not found at ${CHROMIUM_PATH}; the "browser" test project needs it.\n` +
      `  Install it with:  sudo apt-get update && sudo apt-get install -y chromium\n` +
      `  (or run \`node scripts/ensure-deps.mjs\` as root, or set CHROMIUM_PATH to a Chromium binary).\n` +
      `  To run only the Node projects: npx vitest run --project unit --project integration`,
  );
}

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        resolve: { alias: nodeAliases },
        test: {
          name: 'unit',
          environment: 'node',
          include: ['test/unit/**/*.test.ts', 'test/conformance/**/*.test.ts'],
        },
      },
      {
        extends: true,
        resolve: { alias: nodeAliases },
        test: {
          name: 'integration',
          environment: 'node',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          // Real sockets/servers: at most 2 files at once (sized for 2-core CI machines).
          maxWorkers: 2,
          // Run after the unit + browser group has finished (vitest requires projects
          // with a different maxWorkers to be in their own group), so socket/timer
          // heavy tests do not compete with them for the CPU.
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        resolve: { alias: browserAliases },
        plugins: [nodeEntryPerEnvironment],
        optimizeDeps: {
          // Pre-bundle up front so Vite does not re-optimize (and reload) mid-run.
          include: ['fast-check', 'mitt'],
        },
        test: {
          name: 'browser',
          include: ['test/unit/core/**/*.test.ts', 'test/browser/**/*.test.ts'],
          // Node side of test/browser: a real IpcServer, a bridge in front of it and a TCP
          // module `nodemod`, shared through provide/inject; browser commands stop/start the bridge.
          globalSetup: ['test/browser-setup/global-setup.ts'],
          browser: {
            commands: browserCommands,
            enabled: true,
            headless: true,
            provider: playwright({
              launchOptions: {
                executablePath: CHROMIUM_PATH,
                args: [
                  '--no-sandbox',
                  '--disable-gpu',
                  '--disable-dev-shm-usage',
                  '--disable-background-networking',
                  '--disable-component-update',
                  '--disable-sync',
                ],
              },
            }),
            instances: [{ browser: 'chromium' }],
            screenshotFailures: false,
          },
        },
      },
      {
        // The web console end to end: built with Vite, driven in the system Chromium through
        // playwright, against a real server, bridge and press module (test/e2e). Runs last.
        extends: true,
        resolve: { alias: nodeAliases },
        test: {
          name: 'e2e',
          environment: 'node',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        // Faults, floods and hostile input (test/reliability): one file at a time, after
        // everything else, since its figures (RSS, file descriptors, latency under attack) must
        // not share the machine with other tests. RELIABILITY_MODE=long for the long version.
        extends: true,
        resolve: { alias: nodeAliases },
        test: {
          name: 'reliability',
          environment: 'node',
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/reliability/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
