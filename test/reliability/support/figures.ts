/**
 * Figures of the reliability suite (`npm run test:reliability`, also part of `npm test`).
 *
 * Every reliability test measures something and records it here as one {@link Figure}: it is
 * printed at once (so a CI log shows it next to the test) and appended to
 * `test-artifacts/reliability/figures.jsonl`, from which the suite's global teardown prints one
 * table and `scripts/reliability-report.mjs` writes `docs/reliability.md` after a long run.
 *
 * Two modes, read from `RELIABILITY_MODE`:
 *   - `ci` (default): bounded, what `npm test` runs on a 2-core CI machine;
 *   - `long` (`npm run test:reliability -- --long`): more iterations, longer soaks.
 * A test picks its sizes with {@link byMode}.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ReliabilityMode = 'ci' | 'long';

export const MODE: ReliabilityMode = process.env.RELIABILITY_MODE === 'long' ? 'long' : 'ci';

/** `ci` in the bounded run, `long` in the long one. */
export function byMode<T>(ci: T, long: T): T {
  return MODE === 'long' ? long : ci;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIGURES_FILE = resolve(ROOT, 'test-artifacts/reliability/figures.jsonl');

export interface Figure {
  /** The item of the reliability issue it belongs to, 1-9. */
  item: number;
  /** Short name of the check, e.g. `4 GiB announcements`. */
  name: string;
  /** What was tried, in a sentence. */
  tried: string;
  /** How many times / how much (cases, connections, iterations, seconds). */
  times: string;
  /** The measured figure, human readable, with units. */
  figure: string;
  /** The target the figure is held to, as the issue states it. */
  target: string;
  /** Whether the figure meets the target. */
  ok: boolean;
}

/** Prints the figure and keeps it for the suite's table and the report. */
export function recordFigure(figure: Figure): void {
  const line = { ...figure, mode: MODE, at: new Date().toISOString() };
  mkdirSync(dirname(FIGURES_FILE), { recursive: true });
  appendFileSync(FIGURES_FILE, `${JSON.stringify(line)}\n`);
  const verdict = figure.ok ? 'met' : 'MISSED';
  // stdout of the worker: vitest shows it with the test that printed it.
  console.log(
    `[reliability ${figure.item}] ${figure.name}: ${figure.figure} (target: ${figure.target}; ${verdict}) over ${figure.times}`,
  );
}
