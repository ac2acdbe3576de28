/**
 * TCP benchmark of the SDK against the floor of bare `node:net` relays, every role in its own
 * process on loopback:
 *
 *   npm run bench:tcp            (5 runs, about a minute)
 *   npm run bench:tcp -- --quick (1 short run with 4 subscribers: a smoke test of the harness)
 *   npm run bench:tcp -- --runs 3
 *   npm run bench:tcp -- --profile  (also CPU-profiles the SDK's processes in the last run's
 *                                    pipelined and fan-out windows: bench/results/*.cpuprofile)
 *   npm run bench:tcp -- --pin 0,1,0  (runs every request/response topology's hub, responder and
 *                                    asker on those cores, with taskset: where the scheduler
 *                                    puts the three processes decides much of the rates)
 *
 * Workloads (same topology, same bytes, for ours and the floor):
 *   - request/response: asker -> hub -> responder `b.echo` -> hub -> asker, a ~200 B JSON request;
 *     sequential (p50/p99 over N requests after a warm-up) and 64 in flight (round trips/s);
 *   - fan-out: 1 publisher -> hub -> 10 subscribers (Broadcast of ~200 B on `bench.axis3.status`),
 *     deliveries/s counted at the subscribers; the publisher sends bursts and, after each, a sync
 *     to every subscriber that is answered once the burst is counted (at most two bursts out), so
 *     it never outruns the subscribers and no queue grows with the run's length.
 *
 * Ours: IpcServer (bench/roles/sdk.ts hub) and IpcClient modules. Floor: bench/roles/floor.ts,
 * which splits frames by their header and relays them without parsing JSON. JSON-only (request/
 * response only): a plain JSON implementation on the same bare processes (`floor.ts ... json`:
 * the ends JSON.stringify and JSON.parse every whole message, the hub JSON.parses every frame it
 * relays, nothing else), so ours/JSON-only says what the SDK costs beyond JSON at every hop.
 * Each run measures all of them back to back; the tables give the median over runs and the
 * range. The CPU rows add up the CPU time (/proc) of every process of the topology over the
 * command and divide by the operations it did (warm-up included): unlike rates, they hardly move
 * with the load other programs put on the machine.
 * Numbers are only comparable within one run of this script (the ratio columns), not across
 * machines or loads: the load average is printed with each table.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { profiled, topSelfTime } from './lib/profile.ts';
import { writeSummary } from './lib/summary.ts';
import {
  benchArgs,
  int,
  loadLine,
  machineInfo,
  median,
  pct,
  startRole,
  stopAll,
  table,
  us,
  verdict,
  withSpread,
  type Role,
} from './lib/harness.ts';

const { quick, runs } = benchArgs(5);
const PROFILE = process.argv.includes('--profile');
const PIN = pinArg();
const profiles: string[] = [];
const SUBSCRIBERS = quick ? 4 : 10;
const SEQ_N = quick ? 1000 : 5000;
const SEQ_WARMUP = quick ? 300 : 1000;
const PIPE_MS = quick ? 500 : 1500;
const FAN_MS = quick ? 500 : 1500;
const WARMUP_MS = quick ? 200 : 400;
const INFLIGHT = 64;
const BURST = 200;

const TARGETS = {
  seqP50Us: 150,
  seqP99Us: 500,
  pipeRate: 60_000,
  pipeOfFloor: 0.4,
  fanRate: 200_000,
};

interface Seq {
  p50: number;
  p99: number;
  mean: number;
}

/** The request/response topologies: the SDK, the bare floor, and the JSON-only baseline. */
type Who = 'ours' | 'floor' | 'json';
const WHO: readonly Who[] = ['ours', 'floor', 'json'];

interface Results {
  seq: Record<Who, Seq[]>;
  pipe: Record<Who, number[]>;
  fan: { ours: number[]; floor: number[] };
  /** CPU microseconds per operation, all processes of the topology. */
  pipeCpu: Record<Who, number[]>;
  /** Microseconds per round trip the topology's processes spent runnable but waiting for a core. */
  pipeWait: Record<Who, number[]>;
  fanCpu: { ours: number[]; floor: number[] };
}

const results: Results = {
  seq: { ours: [], floor: [], json: [] },
  pipe: { ours: [], floor: [], json: [] },
  fan: { ours: [], floor: [] },
  pipeCpu: { ours: [], floor: [], json: [] },
  pipeWait: { ours: [], floor: [], json: [] },
  fanCpu: { ours: [], floor: [] },
};

interface Counted {
  rate: number;
  all: number;
}

/**
 * Sends `cmd` to `driver` and waits for `key`; returns the line's object, and the CPU time all
 * of `topology` spent meanwhile and the time its processes were runnable but waiting for a core,
 * both in microseconds per operation (`all`).
 */
async function measured(
  driver: Role,
  topology: readonly Role[],
  cmd: Record<string, unknown>,
  key: string,
): Promise<{ res: Counted; cpuUs: number; waitUs: number }> {
  const cpu = (): number => topology.reduce((sum, r) => sum + r.cpuSeconds(), 0);
  const wait = (): number => topology.reduce((sum, r) => sum + r.waitSeconds(), 0);
  const c0 = cpu();
  const w0 = wait();
  const res = (await driver.call(cmd, key))[key] as Counted;
  return { res, cpuUs: ((cpu() - c0) / res.all) * 1e6, waitUs: ((wait() - w0) / res.all) * 1e6 };
}

/** Runs `measure`, profiling `roles` when --profile is on and this is the last run. */
async function maybeProfiled<T>(
  name: string,
  last: boolean,
  roles: readonly Role[],
  measure: () => Promise<T>,
): Promise<T> {
  if (!PROFILE || !last) return measure();
  const { result, files } = await profiled(name, roles, measure);
  profiles.push(...files);
  return result;
}

/** `--pin hub,responder,asker`: the cores (taskset lists) of each request/response process. */
function pinArg(): string[] | undefined {
  const i = process.argv.indexOf('--pin');
  if (i < 0) return undefined;
  const cores = (process.argv[i + 1] ?? '').split(',');
  if (cores.length !== 3 || !cores.every((c) => /^\d+(-\d+)?$/.test(c))) {
    throw new Error('--pin takes three core lists: hub,responder,asker (e.g. 0,1,0 or 0-1,1,0)');
  }
  return cores;
}

/** Starts one request/response topology: hub, then responder, then asker (each its own process). */
async function startTopology(who: Who): Promise<{ asker: Role; roles: Role[] }> {
  const file = who === 'ours' ? 'sdk.ts' : 'floor.ts';
  const extra = who === 'json' ? ['json'] : [];
  const { role: hub, ready } = await startRole(`${who}-hub`, file, ['hub', ...extra]);
  const peer = who === 'ours' ? `tcp:${String(ready.address)}` : String(ready.port);
  const { role: responder } = await startRole(`${who}-responder`, file, ['responder', peer, ...extra]);
  const { role: asker } = await startRole(`${who}-asker`, file, ['asker', peer, ...extra]);
  const roles = [hub, responder, asker];
  if (PIN !== undefined) {
    roles.forEach((r, i) => execFileSync('taskset', ['-a', '-p', '-c', PIN[i] as string, String(r.child.pid)], { stdio: 'ignore' }));
  }
  return { asker, roles };
}

async function requestResponse(): Promise<void> {
  const topology = {} as Record<Who, { asker: Role; roles: Role[] }>;
  for (const who of WHO) topology[who] = await startTopology(who);
  const seq = async (asker: Role): Promise<Seq> =>
    (await asker.call({ cmd: 'seq', warmup: SEQ_WARMUP, n: SEQ_N }, 'seq')).seq as Seq;
  const pipeCmd = { cmd: 'pipe', inflight: INFLIGHT, warmupMs: WARMUP_MS, ms: PIPE_MS };
  for (let r = 0; r < runs; r++) {
    // Rotate who goes first, so drift in the machine's load hits all alike.
    const order = WHO.map((_, i) => WHO[(i + r) % WHO.length] as Who);
    for (const who of order) results.seq[who].push(await seq(topology[who].asker));
    for (const who of order) {
      const { asker, roles } = topology[who];
      const { res, cpuUs, waitUs } = await maybeProfiled(
        'tcp-pipelined',
        who === 'ours' && r === runs - 1,
        roles,
        () => measured(asker, roles, pipeCmd, 'pipe'),
      );
      results.pipe[who].push(res.rate);
      results.pipeCpu[who].push(cpuUs);
      results.pipeWait[who].push(waitUs);
    }
    process.stderr.write(`  request/response run ${r + 1}/${runs} done\n`);
  }
  await stopAll();
}

async function fanOut(): Promise<void> {
  const { role: hubRole, ready: hub } = await startRole('sdk-hub', 'sdk.ts', ['hub']);
  const { role: fhubRole, ready: fhub } = await startRole('floor-hub', 'floor.ts', ['hub']);
  const peer = `tcp:${String(hub.address)}`;
  const fport = String(fhub.port);
  const subs: Promise<{ role: Role }>[] = [];
  const fsubs: Promise<{ role: Role }>[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    subs.push(startRole(`sdk-sub${i}`, 'sdk.ts', ['subscriber', peer, `sub${i}`]));
    fsubs.push(startRole(`floor-sub${i}`, 'floor.ts', ['subscriber', fport]));
  }
  const ourSubs = (await Promise.all(subs)).map((s) => s.role);
  const floorSubs = (await Promise.all(fsubs)).map((s) => s.role);
  const [{ role: ours }, { role: floor }] = await Promise.all([
    startRole('sdk-publisher', 'sdk.ts', ['publisher', peer, String(SUBSCRIBERS)]),
    startRole('floor-publisher', 'floor.ts', ['publisher', fport, String(SUBSCRIBERS)]),
  ]);
  const topology = { ours: [hubRole, ours, ...ourSubs], floor: [fhubRole, floor, ...floorSubs] };
  const fanCmd = { cmd: 'fan', warmupMs: WARMUP_MS, ms: FAN_MS, burst: BURST };
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? (['ours', 'floor'] as const) : (['floor', 'ours'] as const);
    for (const who of order) {
      const pub = who === 'ours' ? ours : floor;
      const roles = topology[who];
      const { res, cpuUs } = await maybeProfiled(
        'tcp-fan-out',
        who === 'ours' && r === runs - 1,
        [hubRole, ours, ourSubs[0] as Role],
        () => measured(pub, roles, fanCmd, 'fan'),
      );
      const { sent, delivered } = res as Counted & { sent: number; delivered: number };
      if (delivered !== sent * SUBSCRIBERS) {
        throw new Error(`${pub.name}: ${delivered} deliveries counted for ${sent} x ${SUBSCRIBERS} sent`);
      }
      results.fan[who].push(res.rate);
      results.fanCpu[who].push(cpuUs);
    }
    process.stderr.write(`  fan-out run ${r + 1}/${runs} done\n`);
  }
  await stopAll();
}

function report(): void {
  const { seq, pipe, fan, pipeCpu, pipeWait, fanCpu } = results;
  const cpu = (x: number): string => x.toFixed(1);
  const times = (x: number): string => `${x.toFixed(2)}x`;
  const p50 = (xs: Seq[]): number[] => xs.map((s) => s.p50);
  const p99 = (xs: Seq[]): number[] => xs.map((s) => s.p99);
  // Ratios per run (same run, same load), then their median.
  const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
  /** A row of the request/response topologies: ours, JSON-only, floor, and ours over each. */
  const three = (name: string, xs: Record<Who, number[]>, fmt: (x: number) => string, rel: (x: number) => string): string[] => [
    name,
    withSpread(xs.ours, fmt),
    withSpread(xs.json, fmt),
    withSpread(xs.floor, fmt),
    withSpread(ratio(xs.ours, xs.json), rel),
    withSpread(ratio(xs.ours, xs.floor), rel),
  ];
  const seqP50 = { ours: p50(seq.ours), json: p50(seq.json), floor: p50(seq.floor) };
  const seqP99 = { ours: p99(seq.ours), json: p99(seq.json), floor: p99(seq.floor) };
  const rows = [
    three('sequential p50 (us)', seqP50, us, times),
    three('sequential p99 (us)', seqP99, us, times),
    three(`${INFLIGHT} in flight (round trips/s)`, pipe, int, pct),
    [
      `fan-out 1 -> ${SUBSCRIBERS} (deliveries/s)`,
      withSpread(fan.ours, int),
      '-',
      withSpread(fan.floor, int),
      '-',
      withSpread(ratio(fan.ours, fan.floor), pct),
    ],
    three('CPU per round trip (us, 3 processes)', pipeCpu, cpu, (x) => `${x.toFixed(1)}x`),
    three('runnable, waiting for a core (us per round trip)', pipeWait, cpu, (x) => `${x.toFixed(1)}x`),
    [
      `CPU per delivery (us, ${SUBSCRIBERS + 2} processes)`,
      withSpread(fanCpu.ours, cpu),
      '-',
      withSpread(fanCpu.floor, cpu),
      '-',
      withSpread(ratio(fanCpu.ours, fanCpu.floor), (x) => `${x.toFixed(1)}x`),
    ],
  ];
  console.log(`\n### TCP: ours vs floor, ${runs} run(s)${quick ? ' (--quick)' : ''}\n`);
  console.log(machineInfo().replace(/\nload average.*$/, ''));
  console.log(`${startLoad} (before the run)`);
  console.log(
    `request ~200 B JSON, sequential n=${SEQ_N} after ${SEQ_WARMUP} warm-up, pipelined ${PIPE_MS} ms, fan-out ${FAN_MS} ms in bursts of ${BURST}` +
      (PIN === undefined ? '' : `; request/response processes pinned to cores ${PIN.join(' / ')} (hub / responder / asker)`) +
      '\n',
  );
  console.log(
    table(
      ['workload', 'ours: median (range)', 'JSON-only: median (range)', 'floor: median (range)', 'ours/JSON-only', 'ours/floor'],
      rows,
    ),
  );
  const pipeOfFloor = median(ratio(pipe.ours, pipe.floor));
  const targets = [
    ['sequential p50 <= 150 us', us(median(p50(seq.ours))), verdict(median(p50(seq.ours)) <= TARGETS.seqP50Us)],
    ['sequential p99 <= 500 us', us(median(p99(seq.ours))), verdict(median(p99(seq.ours)) <= TARGETS.seqP99Us)],
    ['pipelined >= 60,000 rt/s', int(median(pipe.ours)), verdict(median(pipe.ours) >= TARGETS.pipeRate)],
    ['pipelined >= 40% of floor', pct(pipeOfFloor), verdict(pipeOfFloor >= TARGETS.pipeOfFloor)],
    ['fan-out >= 200,000 deliveries/s', int(median(fan.ours)), verdict(median(fan.ours) >= TARGETS.fanRate)],
  ];
  console.log('\n' + table(['target', 'ours (median)', 'verdict'], targets));
  console.log(`\n${ceilingNote(pipeCpu.ours, pipe.floor, 'round trips', 'round trip')}`);
  console.log(ceilingNote(fanCpu.ours, fan.floor, 'deliveries', 'delivery'));
  console.log(
    `JSON-only (the ends encode and parse every message, the hub parses every frame, nothing else): ` +
      `${pct(median(ratio(pipe.json, pipe.floor)))} of the floor's round trips/s; ours is ` +
      `${pct(median(ratio(pipe.ours, pipe.json)))} of JSON-only.`,
  );
  const fanOfFloor = median(ratio(fan.ours, fan.floor));
  const base = { bench: 'tcp' };
  writeSummary([
    { ...base, workload: 'sequential p50, asker -> hub -> responder', unit: 'us', higherIsBetter: false, ours: p50(seq.ours), floor: p50(seq.floor), target: `<= ${TARGETS.seqP50Us} us`, met: median(p50(seq.ours)) <= TARGETS.seqP50Us },
    { ...base, workload: 'sequential p99, asker -> hub -> responder', unit: 'us', higherIsBetter: false, ours: p99(seq.ours), floor: p99(seq.floor), target: `<= ${TARGETS.seqP99Us} us`, met: median(p99(seq.ours)) <= TARGETS.seqP99Us },
    { ...base, workload: `${INFLIGHT} in flight, asker -> hub -> responder`, unit: 'rt/s', higherIsBetter: true, ours: pipe.ours, floor: pipe.floor, target: `>= ${pct(TARGETS.pipeOfFloor)} of floor`, met: pipeOfFloor >= TARGETS.pipeOfFloor },
    { ...base, workload: `fan-out 1 -> ${SUBSCRIBERS}`, unit: 'deliveries/s', higherIsBetter: true, ours: fan.ours, floor: fan.floor, target: `>= ${pct(TARGETS.pipeOfFloor)} of floor`, met: fanOfFloor >= TARGETS.pipeOfFloor },
    { ...base, workload: `${INFLIGHT} in flight, ours vs JSON-only`, unit: 'rt/s', higherIsBetter: true, ours: pipe.ours, floor: pipe.json, baselineName: 'JSON-only' },
    { ...base, workload: 'CPU per round trip, 3 processes', unit: 'us', higherIsBetter: false, ours: pipeCpu.ours, floor: pipeCpu.floor },
    { ...base, workload: 'runnable, waiting for a core, per round trip', unit: 'us', higherIsBetter: false, ours: pipeWait.ours, floor: pipeWait.floor },
    { ...base, workload: `CPU per delivery, ${SUBSCRIBERS + 2} processes`, unit: 'us', higherIsBetter: false, ours: fanCpu.ours, floor: fanCpu.floor },
  ]);
  console.log(`\n${loadLine()} (at the end; the benchmark's own processes count in it)`);
  if (profiles.length > 0) {
    console.log('\nCPU profiles of the last run (self time, idle left out):');
    for (const file of profiles) {
      console.log(`\n${file}\n${topSelfTime(file).join('\n')}`);
    }
  }
}

/**
 * What the CPU per operation allows at best: the rate with every core busy all the time (the
 * processes of these topologies outnumber the cores), against 40% of the floor's median, and the
 * CPU per operation that 40% would need. Not a target: it says whether a missed ratio is a
 * matter of overlap between processes or of CPU.
 */
function ceilingNote(oursCpuUs: number[], floorRates: number[], ops: string, op: string): string {
  const cores = availableParallelism();
  const cpuUs = median(oursCpuUs);
  const ceiling = (cores * 1e6) / cpuUs;
  const floor = median(floorRates);
  const needed = (cores * 1e6) / (TARGETS.pipeOfFloor * floor);
  return (
    `CPU ceiling, ${ops}: at ${cpuUs.toFixed(1)} us per ${op} and all ${cores} cores busy, at most ` +
    `${int(ceiling)} ${ops}/s, ${pct(ceiling / floor)} of the floor's median; ` +
    `${pct(TARGETS.pipeOfFloor)} of the floor needs at most ${needed.toFixed(1)} us per ${op}.`
  );
}

const startLoad = loadLine();
try {
  console.log(machineInfo());
  await requestResponse();
  await fanOut();
  report();
} finally {
  await stopAll();
}
