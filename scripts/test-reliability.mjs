#!/usr/bin/env node
/**
 * npm run test:reliability            the bounded version (the one `npm test` runs, with a 10-minute
 *                                     soak instead of npm test's 2 minutes)
 * npm run test:reliability -- --long  the long version; afterwards docs/reliability.md is
 *                                     written again from its figures
 * Any other argument goes to vitest (e.g. a file filter: `-- slow-consumer`).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const long = args.includes('--long');
const rest = args.filter((a) => a !== '--long');

const ensure = spawnSync(process.execPath, ['scripts/ensure-deps.mjs', '--no-browser'], { cwd: root, stdio: 'inherit' });
if (ensure.status !== 0) process.exit(ensure.status ?? 1);

// The soak runs 10 minutes here and 60 in the long run (npm test's own run keeps it to 2, for
// CI's time budget); SOAK_MINUTES set by hand wins.
const env = {
  ...process.env,
  RELIABILITY_MODE: long ? 'long' : 'ci',
  SOAK_MINUTES: process.env.SOAK_MINUTES ?? (long ? '60' : '10'),
};
const vitest = resolve(root, 'node_modules/vitest/vitest.mjs');
const run = spawnSync(process.execPath, [vitest, 'run', '--project', 'reliability', ...rest], {
  cwd: root,
  env,
  stdio: 'inherit',
});
if (long) {
  const report = spawnSync(process.execPath, ['scripts/reliability-report.mjs'], { cwd: root, stdio: 'inherit' });
  if (report.status !== 0) process.exit(report.status ?? 1);
}
process.exit(run.status ?? 1);
