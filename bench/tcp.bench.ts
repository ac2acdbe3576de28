/**
 * TCP benchmark of the SDK against the floor of bare `node:net` relays, every role in its own
 * process on loopback:
 *
 *   npm run bench:tcp            (5 runs, about a minute)
 *   npm run bench:tcp -- --quick (1 short run with 4 subscribers: a smoke test of the harness)
 *   npm run bench:tcp -- --runs 3
 *   npm run bench:tcp -- --profile  (also CPU-profiles the SDK's processes in the last run's
 *                                    pipelined and fan-out windows: bench/results/*.cpuprofile)
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
 * which splits frames by their header and relays them without parsing JSON. Each run measures
 * ours and the floor back to back; the tables give the median over runs and the range. The CPU
 * rows add up the CPU time (/proc) of every process of the topology over the command and divide
 * by the operations it did (warm-up included): unlike rates, they hardly move with the load
 * other programs put on the machine.
 * Numbers are only comparable within one run of this script (the ratio columns), not across
 * machines or loads: the load average is printed with each table.
 */
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

interface Results {
  seq: { ours: Seq[]; floor: Seq[] };
  pipe: { ours: number[]; floor: number[] };
  fan: { ours: number[]; floor: number[] };
  /** CPU microseconds per operation, all processes of the topology. */
  pipeCpu: { ours: number[]; floor: number[] };
  fanCpu: { ours: number[]; floor: number[] };
}

const results: Results = {
  seq: { ours: [], floor: [] },
  pipe: { ours: [], floor: [] },
  fan: { ours: [], floor: [] },
  pipeCpu: { ours: [], floor: [] },
  fanCpu: { ours: [], floor: [] },
};

interface Counted {
  rate: number;
  all: number;
}

/**
 * Sends `cmd` to `driver` and waits for `key`; returns the line's object and the CPU time all
 * of `topology` spent meanwhile, in microseconds per operation (`all`).
 */
async function measured(
  driver: Role,
  topology: readonly Role[],
  cmd: Record<string, unknown>,
  key: string,
): Promise<{ res: Counted; cpuUs: number }> {
  const cpu = (): number => topology.reduce((sum, r) => sum + r.cpuSeconds(), 0);
  const c0 = cpu();
  const res = (await driver.call(cmd, key))[key] as Counted;
  return { res, cpuUs: ((cpu() - c0) / res.all) * 1e6 };
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

async function requestResponse(): Promise<void> {
  const { role: hubRole, ready: hub } = await startRole('sdk-hub', 'sdk.ts', ['hub']);
  const { role: fhubRole, ready: fhub } = await startRole('floor-hub', 'floor.ts', ['hub']);
  const peer = `tcp:${String(hub.address)}`;
  const fport = String(fhub.port);
  const [{ role: responder }, { role: fresponder }] = await Promise.all([
    startRole('sdk-responder', 'sdk.ts', ['responder', peer]),
    startRole('floor-responder', 'floor.ts', ['responder', fport]),
  ]);
  const [{ role: ours }, { role: floor }] = await Promise.all([
    startRole('sdk-asker', 'sdk.ts', ['asker', peer]),
    startRole('floor-asker', 'floor.ts', ['asker', fport]),
  ]);
  const topology = { ours: [hubRole, responder, ours], floor: [fhubRole, fresponder, floor] };
  const seq = async (asker: Role): Promise<Seq> =>
    (await asker.call({ cmd: 'seq', warmup: SEQ_WARMUP, n: SEQ_N }, 'seq')).seq as Seq;
  const pipeCmd = { cmd: 'pipe', inflight: INFLIGHT, warmupMs: WARMUP_MS, ms: PIPE_MS };
  for (let r = 0; r < runs; r++) {
    // Alternate who goes first, so drift in the machine's load hits both alike.
    const order = r % 2 === 0 ? (['ours', 'floor'] as const) : (['floor', 'ours'] as const);
    for (const who of order) results.seq[who].push(await seq(who === 'ours' ? ours : floor));
    for (const who of order) {
      const roles = topology[who];
      const { res, cpuUs } = await maybeProfiled('tcp-pipelined', who === 'ours' && r === runs - 1, roles, () =>
        measured(who === 'ours' ? ours : floor, roles, pipeCmd, 'pipe'),
      );
      results.pipe[who].push(res.rate);
      results.pipeCpu[who].push(cpuUs);
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
  const { seq, pipe, fan, pipeCpu, fanCpu } = results;
  const cpu = (x: number): string => x.toFixed(1);
  const p50 = (xs: Seq[]): number[] => xs.map((s) => s.p50);
  const p99 = (xs: Seq[]): number[] => xs.map((s) => s.p99);
  // Ratios per run (same run, same load), then their median.
  const ratio = (a: number[], b: number[]): number[] => a.map((x, i) => x / (b[i] as number));
  const rows = [
    [
      'sequential p50 (us)',
      withSpread(p50(seq.ours), us),
      withSpread(p50(seq.floor), us),
      withSpread(ratio(p50(seq.ours), p50(seq.floor)), (x) => `${x.toFixed(2)}x`),
    ],
    [
      'sequential p99 (us)',
      withSpread(p99(seq.ours), us),
      withSpread(p99(seq.floor), us),
      withSpread(ratio(p99(seq.ours), p99(seq.floor)), (x) => `${x.toFixed(2)}x`),
    ],
    [
      `${INFLIGHT} in flight (round trips/s)`,
      withSpread(pipe.ours, int),
      withSpread(pipe.floor, int),
      withSpread(ratio(pipe.ours, pipe.floor), pct),
    ],
    [
      `fan-out 1 -> ${SUBSCRIBERS} (deliveries/s)`,
      withSpread(fan.ours, int),
      withSpread(fan.floor, int),
      withSpread(ratio(fan.ours, fan.floor), pct),
    ],
    [
      'CPU per round trip (us, 3 processes)',
      withSpread(pipeCpu.ours, cpu),
      withSpread(pipeCpu.floor, cpu),
      withSpread(ratio(pipeCpu.ours, pipeCpu.floor), (x) => `${x.toFixed(1)}x`),
    ],
    [
      `CPU per delivery (us, ${SUBSCRIBERS + 2} processes)`,
      withSpread(fanCpu.ours, cpu),
      withSpread(fanCpu.floor, cpu),
      withSpread(ratio(fanCpu.ours, fanCpu.floor), (x) => `${x.toFixed(1)}x`),
    ],
  ];
  console.log(`\n### TCP: ours vs floor, ${runs} run(s)${quick ? ' (--quick)' : ''}\n`);
  console.log(machineInfo().replace(/\nload average.*$/, ''));
  console.log(`${startLoad} (before the run)`);
  console.log(
    `request ~200 B JSON, sequential n=${SEQ_N} after ${SEQ_WARMUP} warm-up, pipelined ${PIPE_MS} ms, fan-out ${FAN_MS} ms in bursts of ${BURST}\n`,
  );
  console.log(table(['workload', 'ours: median (range)', 'floor: median (range)', 'ours/floor'], rows));
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
  const fanOfFloor = median(ratio(fan.ours, fan.floor));
  const base = { bench: 'tcp' };
  writeSummary([
    { ...base, workload: 'sequential p50, asker -> hub -> responder', unit: 'us', higherIsBetter: false, ours: p50(seq.ours), floor: p50(seq.floor), target: `<= ${TARGETS.seqP50Us} us`, met: median(p50(seq.ours)) <= TARGETS.seqP50Us },
    { ...base, workload: 'sequential p99, asker -> hub -> responder', unit: 'us', higherIsBetter: false, ours: p99(seq.ours), floor: p99(seq.floor), target: `<= ${TARGETS.seqP99Us} us`, met: median(p99(seq.ours)) <= TARGETS.seqP99Us },
    { ...base, workload: `${INFLIGHT} in flight, asker -> hub -> responder`, unit: 'rt/s', higherIsBetter: true, ours: pipe.ours, floor: pipe.floor, target: `>= ${pct(TARGETS.pipeOfFloor)} of floor`, met: pipeOfFloor >= TARGETS.pipeOfFloor },
    { ...base, workload: `fan-out 1 -> ${SUBSCRIBERS}`, unit: 'deliveries/s', higherIsBetter: true, ours: fan.ours, floor: fan.floor, target: `>= ${pct(TARGETS.pipeOfFloor)} of floor`, met: fanOfFloor >= TARGETS.pipeOfFloor },
    { ...base, workload: 'CPU per round trip, 3 processes', unit: 'us', higherIsBetter: false, ours: pipeCpu.ours, floor: pipeCpu.floor },
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
