/**
 * Machine-readable results for the aggregate table of `npm run bench` (bench/all.ts): each
 * benchmark appends its headline rows, as JSON lines, to the file named by the environment
 * variable BENCH_SUMMARY (nothing is written when it is unset, so every benchmark still runs on
 * its own).
 */
import { appendFileSync } from 'node:fs';

/** One headline result: per-run values of ours and of the references it is compared with. */
export interface SummaryRow {
  /** The benchmark: `codec`, `router`, `tcp`, `bridge`, `memory`, `bundle`, `peers`. */
  bench: string;
  /** What was measured, in words. */
  workload: string;
  /** The unit of every value of the row, e.g. `rt/s`, `us`, `deliveries/s`, `B`. */
  unit: string;
  /** Whether a larger value is better (rates) or worse (latencies, sizes). */
  higherIsBetter: boolean;
  /** Our value in each run (the table shows the median and the range). */
  ours: number[];
  /** NATS in each run (same index, same run), if compared. */
  nats?: number[];
  /** MQTT (mosquitto) in each run, if compared. */
  mqtt?: number[];
  /** The floor or baseline in each run, if compared; `baselineName` says what it is. */
  floor?: number[];
  /** What the floor column holds when it is not the bare-socket floor (e.g. `direct TCP`). */
  baselineName?: string;
  /** The target in words, e.g. `>= 1.0x NATS`. */
  target?: string;
  /** Whether the target was met (undefined: no target, or not measurable in this run). */
  met?: boolean;
  /** Why some of the row's columns are empty, e.g. `NATS not run: nats-server not installed`. */
  note?: string;
}

/** Appends `rows` to the summary file, when `npm run bench` asked for one. */
export function writeSummary(rows: readonly SummaryRow[]): void {
  const file = process.env.BENCH_SUMMARY;
  if (file === undefined || file === '') return;
  appendFileSync(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
}

/** The per-run ratios a[i] / b[i] (runs measured back to back under the same load). */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  return Array.from({ length: n }, (_, i) => (a[i] as number) / (b[i] as number));
}
