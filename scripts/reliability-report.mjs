#!/usr/bin/env node
/**
 * Writes docs/reliability.md from the figures of the last reliability run
 * (test-artifacts/reliability/figures.jsonl, see test/reliability/support/figures.ts).
 * `npm run test:reliability -- --long` calls it; it can be run by hand after any run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const file = resolve(root, 'test-artifacts/reliability/figures.jsonl');
if (!existsSync(file)) {
  console.error(`reliability-report: ${file} not found; run npm run test:reliability first`);
  process.exit(1);
}
const rows = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l))
  .filter((r) => r.item >= 1)
  .sort((a, b) => a.item - b.item);
const cell = (s) => String(s).replaceAll('|', '\\|').replaceAll('\n', ' ');
const mode = rows[0]?.mode ?? 'ci';
const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
const out = [
  '# Reliability and security figures',
  '',
  'Written by `npm run test:reliability -- --long` (`scripts/reliability-report.mjs`) from the',
  "figures the suite's tests record; the bounded version of the same tests runs inside `npm test`",
  'and prints the same table at its end. How each check works: the test files in',
  '`test/reliability/`.',
  '',
  `Run: ${mode} mode, ${new Date().toISOString().slice(0, 10)}, ${cpu}, ${os.cpus().length} cores, ` +
    `Node ${process.version}, ${os.platform()} ${os.release()}.`,
  '',
  '| # | check | what was tried | how many times | figure | target | verdict |',
  '|---|---|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.item} | ${cell(r.name)} | ${cell(r.tried)} | ${cell(r.times)} | ${cell(r.figure)} | ${cell(r.target)} | ${r.ok ? 'met' : '**missed**'} |`,
  ),
  '',
];
writeFileSync(resolve(root, 'docs/reliability.md'), out.join('\n'));
console.log(`reliability-report: docs/reliability.md written (${rows.length} figures, ${mode} mode)`);
