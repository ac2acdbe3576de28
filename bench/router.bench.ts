/**
 * TopicRouter / TopicTrie matching throughput: 10 routes vs 10,000 routes, plus a naive linear
 * scan over the same 10,000 routes as a baseline.
 *
 *   node --import tsx bench/router.bench.ts
 *
 * Every case is warmed up, then measured in many short time-boxed runs, interleaved; the table
 * shows the median (and the spread) of matches per second. The trie does the same work per topic
 * whatever the number of routes (its cost follows the topic's depth), so what remains of the
 * 10k/10 ratio (target: within 2x) is memory: 10 routes sit in L1, 10,000 do not. The
 * "memory floor" row, a single Map.get on a Map of the same size, shows that part alone.
 * The router remembers the result per topic (machine traffic repeats its topics), so
 * "TopicRouter.match" is mostly cache hits; "cache off" is the trie walk on every call.
 */
import {
  parseTopicPattern,
  splitTopic,
  type PatternSegment,
  type TopicPattern,
} from '../src/core/topic-pattern.ts';
import { TopicRouter } from '../src/core/topic-router.ts';
import { TopicTrie } from '../src/core/topic-trie.ts';
import { writeSummary } from './lib/summary.ts';
import { prng } from './lib/prng.ts';

// --smoke (CI, through `npm run bench -- --smoke`): tiny runs, only to check that it runs.
const SMOKE = process.argv.includes('--smoke');
const QUICK = SMOKE || process.argv.includes('--quick');
const RUNS = SMOKE ? 3 : QUICK ? 9 : 25;
const RUN_MS = SMOKE ? 10 : 60;
const WARMUP_MS = SMOKE ? 30 : 300;
const TOPIC_COUNT = 4096;

/** Ten PLC-like patterns per controller `i`: captures, wildcards, `>` and literals. */
function patternsFor(i: number): string[] {
  return [
    `plc${i}.axis.{n}.pos`,
    `plc${i}.axis.{n}.vel`,
    `plc${i}.GM.*.stData`,
    `press${i}.>`,
    `plc${i}.axis.0.pos`,
    `plc${i}.axis.1.pos`,
    `plc${i}.GM.motor0.cmd`,
    `plc${i}.GM.motor1.cmd`,
    `plc${i}.status`,
    `press${i}.start`,
  ];
}

function routes(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) out.push(...patternsFor(i));
  return out.slice(0, count);
}

/** Topics over the controllers present: hits of every kind and some misses. */
function topics(controllers: number): string[] {
  const rnd = prng(42);
  const shapes = [
    (i: number) => `plc${i}.axis.${Math.floor(rnd() * 16)}.pos`, // literal or capture
    (i: number) => `plc${i}.axis.3.vel`, // capture
    (i: number) => `plc${i}.GM.motor${Math.floor(rnd() * 4)}.stData`, // wildcard
    (i: number) => `press${i}.cycle.count`, // >
    (i: number) => `plc${i}.status`, // literal
    (i: number) => `press${i}.start`, // literal beats >
    (i: number) => `plc${i}.unknown.topic`, // miss
  ];
  const out: string[] = [];
  for (let k = 0; k < TOPIC_COUNT; k++) {
    const shape = shapes[k % shapes.length] as (i: number) => string;
    out.push(shape(Math.floor(rnd() * controllers)));
  }
  return out;
}

/** The baseline: test every route, keep the best by the section 6 comparator. */
class LinearMatcher {
  readonly #patterns: TopicPattern[];
  constructor(patterns: readonly string[]) {
    this.#patterns = patterns.map(parseTopicPattern);
  }

  match(topic: string): TopicPattern | undefined {
    const segs = splitTopic(topic);
    if (segs === undefined) return undefined;
    let best: TopicPattern | undefined;
    for (const p of this.#patterns) {
      if (matches(p.segments, segs) && (best === undefined || compare(p, best) < 0)) best = p;
    }
    return best;
  }
}

function matches(ps: readonly PatternSegment[], segs: readonly string[]): boolean {
  for (let i = 0; i < ps.length; i++) {
    const s = ps[i] as PatternSegment;
    if (s.kind === 'rest') return i < segs.length;
    if (i >= segs.length) return false;
    if (s.kind === 'literal' && s.value !== segs[i]) return false;
  }
  return ps.length === segs.length;
}

function rank(s: PatternSegment | undefined): number {
  if (s === undefined) return 3;
  return s.kind === 'literal' ? 0 : s.kind === 'rest' ? 2 : 1;
}

function compare(a: TopicPattern, b: TopicPattern): number {
  const n = Math.max(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const d = rank(a.segments[i]) - rank(b.segments[i]);
    if (d !== 0) return d;
  }
  return 0;
}

let sink = 0;

/** Matches per second of one time-boxed run. */
function run(fn: (topic: string) => number, ts: readonly string[], ms: number): number {
  let ops = 0;
  let k = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let j = 0; j < 64; j++) {
      sink += fn(ts[k] as string);
      k = (k + 1) % ts.length;
    }
    ops += 64;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

interface Case {
  name: string;
  routes: number;
  fn: (topic: string) => number;
  topics: readonly string[];
  rates: number[];
}

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function buildCases(): Case[] {
  const cases: Case[] = [];
  const noop = () => undefined;
  for (const count of [10, 10_000]) {
    const patterns = routes(count);
    const ts = topics(Math.ceil(count / 10));

    const router = new TopicRouter<unknown>();
    for (const p of patterns) router.route(p, noop);
    const coldRouter = new TopicRouter<unknown>({ cacheSize: 0 });
    for (const p of patterns) coldRouter.route(p, noop);
    const trie = new TopicTrie<number>();
    patterns.forEach((p, i) => trie.add(p, i));
    let visits = 0;
    const visit = () => {
      visits++;
    };
    const linear = new LinearMatcher(patterns);

    // Sanity: the router and the baseline agree on every topic.
    for (const t of ts) {
      if (router.match(t)?.pattern !== linear.match(t)?.source) {
        throw new Error(`router and baseline disagree on ${t}`);
      }
    }

    const add = (name: string, fn: (topic: string) => number) =>
      cases.push({ name, routes: count, fn, topics: ts, rates: [] });
    add('TopicRouter.match', (t) => (router.match(t) === undefined ? 0 : 1));
    add('TopicRouter.match, cache off', (t) => (coldRouter.match(t) === undefined ? 0 : 1));
    add('TopicTrie.all', (t) => {
      trie.all(t, visit);
      return visits & 1;
    });
    add('linear scan (baseline)', (t) => (linear.match(t) === undefined ? 0 : 1));

    // Memory floor: one Map.get per topic on a Map of the same size, every lookup a hit. It has
    // no per-segment work at all, so its 10k/10 ratio is what cache misses alone cost here.
    const exact = new Map<string, number>();
    const controllers = Math.ceil(count / 10);
    for (let i = 0; i < controllers; i++) {
      for (let k = 0; k < 10; k++) exact.set(`plc${i}.axis.${k}.pos`, k);
    }
    const rnd = prng(7);
    const exactTopics = Array.from(
      { length: TOPIC_COUNT },
      () => `plc${Math.floor(rnd() * controllers)}.axis.${Math.floor(rnd() * 10)}.pos`,
    );
    cases.push({
      name: 'Map.get of an exact topic (memory floor)',
      routes: count,
      fn: (t) => exact.get(t) ?? 0,
      topics: exactTopics,
      rates: [],
    });
  }
  return cases;
}

function main(): void {
  const cases = buildCases();
  for (const c of cases) run(c.fn, c.topics, WARMUP_MS);
  // Interleave the cases run by run, so load changes on the machine hit every case alike.
  for (let r = 0; r < RUNS; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(k + r) % cases.length] as Case;
      c.rates.push(run(c.fn, c.topics, RUN_MS));
    }
  }

  const lines = [
    `Node ${process.version}; ${RUNS} interleaved runs of ${RUN_MS} ms per case after ${WARMUP_MS} ms ` +
      `warm-up; ${TOPIC_COUNT} topics over the controllers present (hits of every kind, 1/7 misses).`,
    'Matches per second: median (min-max).',
    '',
    '| case | 10 routes | 10,000 routes | 10k/10 time per match (medians) | (best runs) |',
    '| --- | ---: | ---: | ---: | ---: |',
  ];
  const find = (name: string, n: number) =>
    cases.find((c) => c.name === name && c.routes === n) as Case;
  const cell = (c: Case) =>
    `${fmt(median(c.rates))} (${fmt(Math.min(...c.rates))}-${fmt(Math.max(...c.rates))})`;
  for (const name of [
    'TopicRouter.match',
    'TopicRouter.match, cache off',
    'TopicTrie.all',
    'linear scan (baseline)',
    'Map.get of an exact topic (memory floor)',
  ]) {
    const small = find(name, 10);
    const big = find(name, 10_000);
    const ratio = median(small.rates) / median(big.rates);
    const best = Math.max(...small.rates) / Math.max(...big.rates);
    lines.push(
      `| ${name} | ${cell(small)} | ${cell(big)} | ${ratio.toFixed(2)}x | ${best.toFixed(2)}x |`,
    );
  }
  const speedup =
    median(find('TopicRouter.match', 10_000).rates) /
    median(find('linear scan (baseline)', 10_000).rates);
  lines.push(
    '',
    `At 10,000 routes TopicRouter.match is ${speedup.toFixed(0)}x faster than the linear scan.`,
  );
  console.log(lines.join('\n'));
  writeSummary(
    [10, 10_000].map((n) => ({
      bench: 'router',
      workload: `TopicRouter.match, ${fmt(n)} routes`,
      unit: 'matches/s',
      higherIsBetter: true,
      ours: find('TopicRouter.match', n).rates,
      floor: find('linear scan (baseline)', n).rates,
      baselineName: 'linear scan',
    })),
  );
  if (sink === -1) console.log(sink);
}

main();
