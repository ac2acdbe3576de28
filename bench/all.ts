/**
 * Every benchmark of bench/, one after the other, and one markdown table of their headline
 * results:
 *
 *   npm run bench              (the full set, about 10 minutes on 2 cores)
 *   npm run bench -- --quick   (every benchmark in its short version, about 3 minutes)
 *   npm run bench -- --smoke   (tiny sizes, for CI: codec, router and peers only, a few seconds
 *                               each; checks the harness, the numbers mean nothing)
 *   npm run bench -- --runs 3  (runs of each process benchmark)
 *   npm run bench -- --profile (tcp and peers also CPU-profile the SDK's processes in their
 *                               last run: it slows that run, so not for the numbers)
 *
 * Each benchmark runs in its own process with BENCH_SUMMARY naming a file it appends its
 * headline rows to (bench/lib/summary.ts); its full report is kept for the Details section.
 * The table (with machine info and every report) is also written to bench/results/latest.md,
 * except with --smoke, whose numbers are not worth keeping; `--out FILE` writes elsewhere.
 * Exits 1 when a benchmark failed (the table still shows the others).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, int, loadLine, machineInfo, table, withSpread } from './lib/harness.ts';
import { ratios, type SummaryRow } from './lib/summary.ts';

const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));
const argv = process.argv.slice(2);
const { quick, smoke } = benchArgs(5);
const runsAt = argv.indexOf('--runs');
const outAt = argv.indexOf('--out');
const OUT = outAt >= 0 ? argv[outAt + 1] : smoke ? undefined : join(BENCH_DIR, 'results', 'latest.md');

interface Bench {
  name: string;
  file: string;
  /** Takes `--runs N` (the process benchmarks). */
  runs?: boolean;
  /** Part of the --smoke set. */
  smoke?: boolean;
  /** Takes `--profile` (CPU profiles of the SDK's processes in the last run). */
  profile?: boolean;
  /** Extra arguments. */
  args?: string[];
}

const BENCHES: Bench[] = [
  { name: 'codec', file: 'codec.bench.ts', smoke: true },
  { name: 'router', file: 'router.bench.ts', smoke: true },
  { name: 'tcp', file: 'tcp.bench.ts', runs: true, profile: true },
  { name: 'bridge', file: 'bridge.bench.ts', runs: true },
  { name: 'memory', file: 'memory.bench.ts' },
  { name: 'bundle', file: 'bundle-size.ts' },
  { name: 'peers', file: 'peers.bench.ts', runs: true, smoke: true, profile: true },
];

interface Outcome {
  bench: Bench;
  code: number | null;
  seconds: number;
  report: string;
  rows: SummaryRow[];
}

/** Runs one benchmark; its report is collected, its progress (stderr) passed through. */
async function run(bench: Bench, summaryFile: string): Promise<Outcome> {
  const flags = [
    ...(smoke ? ['--smoke'] : quick ? ['--quick'] : []),
    ...(bench.runs && runsAt >= 0 ? ['--runs', argv[runsAt + 1] ?? '1'] : []),
    ...(bench.profile && argv.includes('--profile') ? ['--profile'] : []),
    ...(bench.args ?? []),
  ];
  writeFileSync(summaryFile, '');
  const t0 = performance.now();
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(BENCH_DIR, bench.file), ...flags],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BENCH_SUMMARY: summaryFile } },
  );
  running.add(child);
  let report = '';
  let stderrTail = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (t: string) => (report += t));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (t: string) => (stderrTail = (stderrTail + t).slice(-3000)));
  child.stderr.on('data', (t: string) => process.stderr.write(`  [${bench.name}] ${t.replace(/\n(?=.)/g, `\n  [${bench.name}] `)}`));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  running.delete(child);
  const rows = readFileSync(summaryFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as SummaryRow);
  // A failure's reason is on stderr: keep its end with the report.
  if (code !== 0) report += `\n\nstderr (end):\n\n\`\`\`\n${stderrTail.trim()}\n\`\`\`\n`;
  return { bench, code, seconds: (performance.now() - t0) / 1000, report, rows };
}

const running = new Set<ReturnType<typeof spawn>>();
// A benchmark interrupted here stops its own roles and brokers (they watch their stdin, and
// each benchmark kills its children on SIGINT/SIGTERM).
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of running) c.kill(sig);
    setTimeout(() => process.exit(130), 3000).unref();
  });
}

/** A value in the row's unit, compactly. */
function fmt(unit: string): (x: number) => string {
  if (unit === 'us') return (x) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
  if (unit === 'MiB') return (x) => x.toFixed(1);
  return int;
}

function cells(row: SummaryRow): string[] {
  const f = fmt(row.unit);
  const col = (xs: number[] | undefined, who: string): string =>
    xs === undefined ? '' : xs.length === 0 ? (row.note?.includes(who) ? 'not run' : '-') : withSpread(xs, f);
  const ratio = (xs: number[] | undefined): string =>
    xs === undefined || xs.length === 0 || row.ours.length === 0
      ? ''
      : withSpread(ratios(row.ours, xs), (x) => `${x.toFixed(2)}x`);
  return [
    row.bench,
    `${row.workload} (${row.unit}${row.higherIsBetter ? ', higher is better' : ''})`,
    row.ours.length > 0 ? withSpread(row.ours, f) : '',
    col(row.nats, 'NATS'),
    col(row.mqtt, 'MQTT'),
    row.floor === undefined ? '' : `${col(row.floor, 'floor')}${row.baselineName ? ` (${row.baselineName})` : ''}`,
    ratio(row.nats),
    ratio(row.mqtt),
    ratio(row.floor),
    row.target ?? '',
    row.target === undefined ? '' : row.met === undefined ? 'not run' : row.met ? 'met' : 'MISSED',
  ];
}

const startLoad = loadLine();
const started = new Date();
const tmp = mkdtempSync(join(tmpdir(), 'autocore-bench-'));
const outcomes: Outcome[] = [];
try {
  const selected = BENCHES.filter((b) => !smoke || b.smoke);
  for (const [i, bench] of selected.entries()) {
    process.stderr.write(`[${i + 1}/${selected.length}] ${bench.name} (bench/${bench.file})\n`);
    const o = await run(bench, join(tmp, `${bench.name}.jsonl`));
    process.stderr.write(`[${i + 1}/${selected.length}] ${bench.name}: exit ${String(o.code)} in ${o.seconds.toFixed(0)} s\n`);
    outcomes.push(o);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const head = ['bench', 'workload (unit)', 'ours', 'NATS', 'MQTT', 'floor / baseline', 'ours/NATS', 'ours/MQTT', 'ours/floor', 'target', 'verdict'];
const rows: string[][] = [];
for (const o of outcomes) {
  if (o.code !== 0) rows.push([o.bench.name, `FAILED (exit ${String(o.code)}), see its report below`, ...Array<string>(9).fill('')]);
  for (const r of o.rows) rows.push(cells(r));
}
const skipped = BENCHES.filter((b) => smoke && !b.smoke).map((b) => b.name);
const notes = [...new Set(outcomes.flatMap((o) => o.rows.map((r) => r.note).filter((n): n is string => !!n)))];
const verdicts = outcomes.flatMap((o) => o.rows).filter((r) => r.target !== undefined);
const mode = smoke ? ' (--smoke: tiny sizes, the numbers mean nothing)' : quick ? ' (--quick)' : '';
const total = (performance.now() / 1000).toFixed(0);

const summary = [
  `## autocore-ipc benchmarks${mode}`,
  '',
  `${started.toISOString()}, \`npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}\`, ${total} s`,
  '',
  '```',
  machineInfo().replace(/\nload average.*$/, ''),
  `${startLoad} (before the run)`,
  `${loadLine()} (at the end)`,
  '```',
  '',
  'Each cell: median (min-max) over runs; ratios are medians of per-run ratios (measured back to',
  'back under the same load). Compare ratios, not raw rates, across machines.',
  '',
  table(head, rows),
  '',
  `Targets: ${verdicts.filter((r) => r.met === true).length} met, ${verdicts.filter((r) => r.met === false).length} missed, ${verdicts.filter((r) => r.met === undefined).length} not run.`,
  ...(skipped.length > 0 ? [`Not run with --smoke: ${skipped.join(', ')}.`] : []),
  ...notes.map((n) => `Note: ${n}`),
].join('\n');

console.log(`\n${summary}\n`);
if (OUT !== undefined) {
  const details = outcomes.map(
    (o) => `### ${o.bench.name} (bench/${o.bench.file}, exit ${String(o.code)}, ${o.seconds.toFixed(0)} s)\n\n${o.report.trim()}\n`,
  );
  mkdirSync(join(OUT, '..'), { recursive: true });
  writeFileSync(OUT, `${summary}\n\n## Details: each benchmark's own report\n\n${details.join('\n')}`);
  console.log(`written to ${OUT}`);
}
process.exitCode = outcomes.every((o) => o.code === 0) ? 0 : 1;
