/**
 * The SDK against the brokers an engineer would pick instead, NATS and MQTT, and against the
 * floor of bare sockets, side by side in one run on loopback:
 *
 *   npm run bench:peers             (5 runs, about 3 minutes)
 *   npm run bench:peers -- --quick  (1 short run, 4 subscribers)
 *   npm run bench:peers -- --smoke  (1 tiny run, 2 subscribers: checks the harness, for CI)
 *   npm run bench:peers -- --runs 3
 *
 * Systems, every client in its own process, the middle in its own process:
 *   - ours:  IpcServer hub + IpcClient modules (bench/roles/sdk.ts);
 *   - NATS:  nats-server + `nats` clients (bench/roles/nats.ts), core NATS, request() with its
 *            shared reply inbox;
 *   - MQTT:  mosquitto + `mqtt` clients (bench/roles/mqtt.ts), MQTT 5, QoS 0, request/response
 *            with a response topic and correlation data;
 *   - floor: bare `node:net` relays that split frames by their header and parse no JSON
 *            (bench/roles/floor.ts).
 * The brokers are started here from Debian's packages with generated configs on free loopback
 * ports (bench/lib/peers.ts), installed with apt-get when missing and running as root; a system
 * that cannot run is reported as "not run" with the reason.
 *
 * Workloads (same JSON objects for every system, encoded and decoded at both ends):
 *   1. request/reply through the middle: asker -> hub/broker -> responder and back, sequential
 *      (p50/p99) and 64 in flight (round trips/s);
 *   2. fan-out 1 -> N subscribers: deliveries/s counted at the subscribers, the publisher
 *      sending bursts each followed by a sync to every subscriber (at most two bursts out), as
 *      in bench/tcp.bench.ts;
 *   3. the browser path: a WebSocket client -> our bridge -> hub -> responder module, vs a NATS
 *      client over nats-server's WebSocket listener -> responder;
 *   4. the floors: the bare-socket topologies of 1 and 2, and JSON encode + decode of the
 *      request alone (in this process).
 * Each run measures every system back to back, the order rotating from run to run; the tables
 * give the median over runs and the range, and ratios are medians of per-run ratios.
 */
import { cpus } from 'node:os';
import { requestJson } from './lib/drivers.ts';
import {
  benchArgs,
  cpuSecondsOf,
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
  type RoleLine,
} from './lib/harness.ts';
import { ensureBinaries, startMosquitto, startNats, stopBrokers, type Broker } from './lib/peers.ts';
import { profiled, topSelfTime } from './lib/profile.ts';
import { ratios, writeSummary, type SummaryRow } from './lib/summary.ts';

const { quick, smoke, runs } = benchArgs(5);
const PROFILE = process.argv.includes('--profile');
const SUBSCRIBERS = smoke ? 2 : quick ? 4 : 10;
const SEQ_N = smoke ? 200 : quick ? 1000 : 3000;
const SEQ_WARMUP = smoke ? 100 : quick ? 300 : 1000;
const PIPE_MS = smoke ? 200 : quick ? 500 : 1500;
const FAN_MS = smoke ? 200 : quick ? 500 : 1500;
const WARMUP_MS = smoke ? 100 : quick ? 200 : 400;
const INFLIGHT = 64;
const BURST = smoke ? 50 : 200;

const TARGETS = { ofNats: 1.0, ofMosquitto: 1.0, seqP50Us: 150, seqP99Us: 500, ofFloor: 0.4 };

/** The request/reply paths: the four systems over TCP, and the two browser paths. */
const PATHS = ['ours', 'nats', 'mqtt', 'floor', 'ours ws', 'nats ws'] as const;
type Path = (typeof PATHS)[number];
const SYSTEMS = ['ours', 'nats', 'mqtt', 'floor'] as const;
type System = (typeof SYSTEMS)[number];

interface Seq {
  p50: number;
  p99: number;
}

interface Counted {
  rate: number;
  all: number;
}

const seq = new Map<Path, Seq[]>(PATHS.map((p) => [p, []]));
const pipe = new Map<Path, number[]>(PATHS.map((p) => [p, []]));
/** CPU microseconds per round trip, every process of the path (broker included). */
const pipeCpu = new Map<Path, number[]>(PATHS.map((p) => [p, []]));
const fan = new Map<System, number[]>(SYSTEMS.map((s) => [s, []]));
const fanCpu = new Map<System, number[]>(SYSTEMS.map((s) => [s, []]));
/** Microseconds per JSON encode + decode of the request, per run. */
const json: number[] = [];
/** Why a system did not run. */
const notRun = new Map<'nats' | 'mqtt', string>();
const profiles: string[] = [];

/** A driver role and the CPU seconds its whole topology has used so far. */
interface Setup {
  driver: Role;
  cpu: () => number;
  /** The roles to profile with --profile (ours only). */
  profile?: Role[];
}

function topologyCpu(roles: readonly Role[], broker?: Broker): () => number {
  return () =>
    roles.reduce((sum, r) => sum + r.cpuSeconds(), 0) + (broker ? cpuSecondsOf(broker.brokerPid()) : 0);
}

/** Sends `cmd`, waits for `key`; returns the result and the topology's CPU us per operation. */
async function measured(setup: Setup, cmd: Record<string, unknown>, key: string): Promise<{ res: Counted; cpuUs: number }> {
  const c0 = setup.cpu();
  const res = (await setup.driver.call(cmd, key, 120_000))[key] as Counted;
  return { res, cpuUs: ((setup.cpu() - c0) / res.all) * 1e6 };
}

/** `measure`, with the setup's roles CPU-profiled when --profile is on and `last` is true. */
async function maybeProfiled<T>(name: string, last: boolean, setup: Setup, measure: () => Promise<T>): Promise<T> {
  if (!PROFILE || !last || setup.profile === undefined) return measure();
  const { result, files } = await profiled(name, setup.profile, measure);
  profiles.push(...files);
  return result;
}

/** Starts a role (bench/lib/harness.ts limits how many start at once). */
function start(name: string, file: string, args: string[]): Promise<{ role: Role; ready: RoleLine }> {
  return startRole(name, file, args, { readyTimeoutMs: 180_000 });
}

/** The order of `items` in run `r`: rotated, so drift in the machine's load hits all alike. */
function rotated<T>(items: readonly T[], r: number): T[] {
  return items.map((_, i) => items[(i + r) % items.length] as T);
}

/** Starts the brokers that can run; records why the others cannot. */
async function startBrokers(): Promise<{ nats?: Broker; mosquitto?: Broker }> {
  const bins = ensureBinaries(['nats-server', 'mosquitto']);
  const out: { nats?: Broker; mosquitto?: Broker } = {};
  const natsBin = bins.get('nats-server');
  if (natsBin !== undefined && 'path' in natsBin) {
    try {
      out.nats = await startNats(natsBin.path);
    } catch (e) {
      notRun.set('nats', `nats-server did not start: ${(e as Error).message.split('\n')[0]}`);
    }
  } else notRun.set('nats', natsBin && 'missing' in natsBin ? natsBin.missing : 'nats-server missing');
  const mosqBin = bins.get('mosquitto');
  if (mosqBin !== undefined && 'path' in mosqBin) {
    try {
      out.mosquitto = await startMosquitto(mosqBin.path);
    } catch (e) {
      notRun.set('mqtt', `mosquitto did not start: ${(e as Error).message.split('\n')[0]}`);
    }
  } else notRun.set('mqtt', mosqBin && 'missing' in mosqBin ? mosqBin.missing : 'mosquitto missing');
  return out;
}

/** Workloads 1 and 3: request/reply over TCP for every system, and the two browser paths. */
async function requestReply(brokers: { nats?: Broker; mosquitto?: Broker }): Promise<void> {
  const [{ role: hub, ready: hubReady }, { role: fhub, ready: fhubReady }] = await Promise.all([
    start('sdk-hub', 'sdk.ts', ['hub']),
    start('floor-hub', 'floor.ts', ['hub']),
  ]);
  const address = String(hubReady.address);
  const fport = String(fhubReady.port);
  const natsTcp = brokers.nats ? `tcp:127.0.0.1:${brokers.nats.ports.tcp}` : '';
  const natsWs = brokers.nats ? `ws:ws://127.0.0.1:${String(brokers.nats.ports.ws)}` : '';
  const mqttPort = brokers.mosquitto ? String(brokers.mosquitto.ports.tcp) : '';
  const role = (name: string, file: string, args: string[]): Promise<Role> =>
    start(name, file, args).then((s) => s.role);

  const browser = !smoke;
  const [responder, fresponder, nresponder, mresponder, bridge] = await Promise.all([
    role('sdk-responder', 'sdk.ts', ['responder', `tcp:${address}`]),
    role('floor-responder', 'floor.ts', ['responder', fport]),
    brokers.nats ? role('nats-responder', 'nats.ts', ['responder', natsTcp]) : undefined,
    brokers.mosquitto ? role('mqtt-responder', 'mqtt.ts', ['responder', mqttPort]) : undefined,
    browser ? start('bridge', 'bridge.ts', ['bridge', address]) : undefined,
  ]);
  const url = String(bridge?.ready.url);
  const [asker, fasker, wsAsker, nasker, nwsAsker, masker] = await Promise.all([
    role('sdk-asker', 'sdk.ts', ['asker', `tcp:${address}`, 'a']),
    role('floor-asker', 'floor.ts', ['asker', fport]),
    bridge ? role('sdk-ws-asker', 'sdk.ts', ['asker', `ws-text:${url}`, 'w']) : undefined,
    brokers.nats ? role('nats-asker', 'nats.ts', ['asker', natsTcp]) : undefined,
    brokers.nats && browser ? role('nats-ws-asker', 'nats.ts', ['asker', natsWs]) : undefined,
    brokers.mosquitto ? role('mqtt-asker', 'mqtt.ts', ['asker', mqttPort, 'a']) : undefined,
  ]);
  const setups = new Map<Path, Setup>([
    ['ours', { driver: asker, cpu: topologyCpu([hub, responder, asker]), profile: [hub, responder, asker] }],
    ['floor', { driver: fasker, cpu: topologyCpu([fhub, fresponder, fasker]) }],
  ]);
  if (wsAsker && bridge) {
    setups.set('ours ws', {
      driver: wsAsker,
      cpu: topologyCpu([hub, responder, wsAsker, bridge.role]),
      profile: [bridge.role, wsAsker],
    });
  }
  if (nasker && nresponder) setups.set('nats', { driver: nasker, cpu: topologyCpu([nresponder, nasker], brokers.nats) });
  if (nwsAsker && nresponder) {
    setups.set('nats ws', { driver: nwsAsker, cpu: topologyCpu([nresponder, nwsAsker], brokers.nats) });
  }
  if (masker && mresponder) {
    setups.set('mqtt', { driver: masker, cpu: topologyCpu([mresponder, masker], brokers.mosquitto) });
  }
  const paths = PATHS.filter((p) => setups.has(p));
  const pipeCmd = { cmd: 'pipe', inflight: INFLIGHT, warmupMs: WARMUP_MS, ms: PIPE_MS };
  for (let r = 0; r < runs; r++) {
    const order = rotated(paths, r);
    for (const p of order) {
      const res = await (setups.get(p) as Setup).driver.call({ cmd: 'seq', warmup: SEQ_WARMUP, n: SEQ_N }, 'seq', 120_000);
      seq.get(p)?.push(res.seq as Seq);
    }
    for (const p of order) {
      const setup = setups.get(p) as Setup;
      const { res, cpuUs } = await maybeProfiled(`peers-${p.replace(' ', '-')}-pipelined`, r === runs - 1, setup, () =>
        measured(setup, pipeCmd, 'pipe'),
      );
      pipe.get(p)?.push(res.rate);
      pipeCpu.get(p)?.push(cpuUs);
    }
    json.push(jsonCost(smoke ? 20 : 200));
    process.stderr.write(`  request/reply run ${r + 1}/${runs} done\n`);
  }
  await stopAll();
}

/** Workload 2: fan-out 1 -> SUBSCRIBERS for every system. */
async function fanOut(brokers: { nats?: Broker; mosquitto?: Broker }): Promise<void> {
  const [{ role: hub, ready: hubReady }, { role: fhub, ready: fhubReady }] = await Promise.all([
    start('sdk-hub', 'sdk.ts', ['hub']),
    start('floor-hub', 'floor.ts', ['hub']),
  ]);
  const where: Record<System, { file: string; peer: string; broker?: Broker; middle?: Role } | undefined> = {
    ours: { file: 'sdk.ts', peer: `tcp:${String(hubReady.address)}`, middle: hub },
    floor: { file: 'floor.ts', peer: String(fhubReady.port), middle: fhub },
    nats: brokers.nats ? { file: 'nats.ts', peer: `tcp:127.0.0.1:${brokers.nats.ports.tcp}`, broker: brokers.nats } : undefined,
    mqtt: brokers.mosquitto
      ? { file: 'mqtt.ts', peer: String(brokers.mosquitto.ports.tcp), broker: brokers.mosquitto }
      : undefined,
  };
  const systems = SYSTEMS.filter((s) => where[s] !== undefined);
  // The roles' argument lists differ a little: the SDK's take the peer, then the name; the
  // floor's subscriber takes only the port; the peers' take the server, then the name.
  const subArgs = (s: System, i: number): string[] => {
    const w = where[s] as { peer: string };
    if (s === 'ours') return ['subscriber', w.peer, `sub${i}`];
    if (s === 'floor') return ['subscriber', w.peer];
    return ['subscriber', w.peer, `sub${i}`];
  };
  const pubArgs = (s: System): string[] => ['publisher', (where[s] as { peer: string }).peer, String(SUBSCRIBERS)];
  const setups = new Map<System, Setup>();
  const subsOf = new Map<System, Role[]>();
  await Promise.all(
    systems.map(async (s) => {
      const w = where[s] as { file: string };
      const subs = await Promise.all(
        Array.from({ length: SUBSCRIBERS }, (_, i) => start(`${s}-sub${i}`, w.file, subArgs(s, i)).then((x) => x.role)),
      );
      subsOf.set(s, subs);
    }),
  );
  await Promise.all(
    systems.map(async (s) => {
      const w = where[s] as { file: string; broker?: Broker; middle?: Role };
      const { role: pub } = await start(`${s}-publisher`, w.file, pubArgs(s));
      const subs = subsOf.get(s) ?? [];
      const roles = [pub, ...subs, ...(w.middle ? [w.middle] : [])];
      setups.set(s, {
        driver: pub,
        cpu: topologyCpu(roles, w.broker),
        profile: s === 'ours' ? [hub, pub, subs[0] as Role] : undefined,
      });
    }),
  );
  const fanCmd = { cmd: 'fan', warmupMs: WARMUP_MS, ms: FAN_MS, burst: BURST };
  for (let r = 0; r < runs; r++) {
    for (const s of rotated(systems, r)) {
      const setup = setups.get(s) as Setup;
      const { res, cpuUs } = await maybeProfiled('peers-fan-out', r === runs - 1, setup, () =>
        measured(setup, fanCmd, 'fan'),
      );
      const { sent, delivered } = res as Counted & { sent: number; delivered: number };
      if (delivered !== sent * SUBSCRIBERS) {
        throw new Error(`${s}: ${delivered} deliveries counted for ${sent} x ${SUBSCRIBERS} sent`);
      }
      fan.get(s)?.push(res.rate);
      fanCpu.get(s)?.push(cpuUs);
    }
    process.stderr.write(`  fan-out run ${r + 1}/${runs} done\n`);
  }
  await stopAll();
}

/**
 * Floor 4: microseconds of CPU per JSON encode + decode of the request, for about `ms` here.
 * CPU time (process.cpuUsage), not wall time: on a busy machine this process gets a slice of a
 * core, and wall time would count the others' turns.
 */
function jsonCost(ms: number): number {
  let n = 0;
  let sink = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 100; i++) {
      sink += (JSON.parse(requestJson()) as { transaction_id: number }).transaction_id;
    }
    n += 100;
  }
  const c = process.cpuUsage(c0);
  if (sink === -1) console.log(sink);
  return (c.user + c.system) / n;
}

// ---------------------------------------------------------------------------------------------
// Report

const x2 = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
const cpu1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '-');
const p50s = (p: Path): number[] => (seq.get(p) ?? []).map((s) => s.p50);
const p99s = (p: Path): number[] => (seq.get(p) ?? []).map((s) => s.p99);
const NOT_RUN = 'not run';

/** One row: ours, NATS, MQTT, floor, and ours / each (median of per-run ratios). */
function row(
  what: string,
  ours: number[],
  refs: { nats?: number[]; mqtt?: number[]; floor?: number[] },
  fmt: (x: number) => string,
  ratioFmt: (x: number) => string = x2,
): string[] {
  const cell = (xs: number[] | undefined, who?: 'nats' | 'mqtt'): string =>
    xs === undefined ? '' : xs.length === 0 ? (who && notRun.has(who) ? NOT_RUN : '-') : withSpread(xs, fmt);
  const ratio = (xs: number[] | undefined): string =>
    xs === undefined || xs.length === 0 || ours.length === 0 ? '' : withSpread(ratios(ours, xs), ratioFmt);
  return [
    what,
    cell(ours),
    cell(refs.nats, 'nats'),
    cell(refs.mqtt, 'mqtt'),
    cell(refs.floor),
    ratio(refs.nats),
    ratio(refs.mqtt),
    ratio(refs.floor),
  ];
}

function report(startLoad: string): void {
  const g = <K, V>(m: Map<K, V[]>, k: K): V[] => m.get(k) ?? [];
  const rows = [
    row('request/reply sequential p50 (us)', p50s('ours'), { nats: p50s('nats'), mqtt: p50s('mqtt'), floor: p50s('floor') }, us),
    row('request/reply sequential p99 (us)', p99s('ours'), { nats: p99s('nats'), mqtt: p99s('mqtt'), floor: p99s('floor') }, us),
    row(
      `request/reply ${INFLIGHT} in flight (rt/s)`,
      g(pipe, 'ours'),
      { nats: g(pipe, 'nats'), mqtt: g(pipe, 'mqtt'), floor: g(pipe, 'floor') },
      int,
    ),
    row(
      'CPU per round trip (us, all processes)',
      g(pipeCpu, 'ours'),
      { nats: g(pipeCpu, 'nats'), mqtt: g(pipeCpu, 'mqtt'), floor: g(pipeCpu, 'floor') },
      cpu1,
    ),
    row(
      `fan-out 1 -> ${SUBSCRIBERS} (deliveries/s)`,
      g(fan, 'ours'),
      { nats: g(fan, 'nats'), mqtt: g(fan, 'mqtt'), floor: g(fan, 'floor') },
      int,
    ),
    row(
      'CPU per delivery (us, all processes)',
      g(fanCpu, 'ours'),
      { nats: g(fanCpu, 'nats'), mqtt: g(fanCpu, 'mqtt'), floor: g(fanCpu, 'floor') },
      cpu1,
    ),
    row('browser path (WebSocket) p50 (us)', p50s('ours ws'), { nats: p50s('nats ws') }, us),
    row('browser path (WebSocket) p99 (us)', p99s('ours ws'), { nats: p99s('nats ws') }, us),
    row(`browser path (WebSocket) ${INFLIGHT} in flight (rt/s)`, g(pipe, 'ours ws'), { nats: g(pipe, 'nats ws') }, int),
    row(
      'CPU per browser round trip (us, all processes)',
      g(pipeCpu, 'ours ws'),
      { nats: g(pipeCpu, 'nats ws') },
      cpu1,
    ),
    ['JSON encode + decode of the request alone (CPU us)', '', '', '', withSpread(json, (v) => v.toFixed(2)), '', '', ''],
  ];
  console.log(`\n### Ours vs NATS vs MQTT vs the floor, ${runs} run(s)${smoke ? ' (--smoke)' : quick ? ' (--quick)' : ''}\n`);
  console.log(machineInfo().replace(/\nload average.*$/, ''));
  console.log(`${startLoad} (before the run)`);
  console.log(
    `request ~200 B JSON, sequential n=${SEQ_N} after ${SEQ_WARMUP} warm-up, ${INFLIGHT} in flight for ${PIPE_MS} ms; ` +
      `fan-out ${FAN_MS} ms in bursts of ${BURST}; median (range) over runs, ratios = median of per-run ours/other\n`,
  );
  for (const [who, why] of notRun) console.log(`${who === 'nats' ? 'NATS' : 'MQTT'} not run: ${why}`);
  console.log(table(['workload', 'ours', 'NATS', 'MQTT (mosquitto)', 'floor', 'ours/NATS', 'ours/MQTT', 'ours/floor'], rows));

  const summary = targets();
  console.log(
    '\n' +
      table(
        ['target', 'measured (median)', 'verdict'],
        summary
          .filter((s) => s.target !== undefined)
          .map((s) => [`${s.workload}: ${s.target as string}`, s.measured, s.met === undefined ? NOT_RUN : verdict(s.met)]),
      ),
  );
  console.log(`\n${loadLine()} (at the end; the benchmark's own processes count in it)`);
  if (profiles.length > 0) {
    console.log('\nCPU profiles of the last run (self time, idle left out):');
    for (const file of profiles) console.log(`\n${file}\n${topSelfTime(file).join('\n')}`);
  }
  // Rows with nothing measured (--smoke leaves out the browser path and the fan-out) are left out.
  const measuredRows = summary.filter((r) => [r.ours, r.nats, r.mqtt, r.floor].some((xs) => (xs?.length ?? 0) > 0));
  writeSummary(measuredRows.map(({ measured: _m, ...r }) => r));
}

/** The summary rows (for `npm run bench`) with their targets, and each target's measured value. */
function targets(): (SummaryRow & { measured: string })[] {
  const g = <K>(m: Map<K, number[]>, k: K): number[] => m.get(k) ?? [];
  const med = (a: number[], b: number[]): number => median(ratios(a, b));
  const has = (xs: number[]): boolean => xs.length > 0;
  const note = [...notRun].map(([w, why]) => `${w === 'nats' ? 'NATS' : 'MQTT'} not run: ${why}`).join('; ') || undefined;
  const base = { bench: 'peers', note };
  const oursPipe = g(pipe, 'ours');
  const oursFan = g(fan, 'ours');
  const out: (SummaryRow & { measured: string })[] = [
    {
      ...base,
      workload: 'request/reply via hub, sequential p50',
      unit: 'us',
      higherIsBetter: false,
      ours: p50s('ours'),
      nats: p50s('nats'),
      mqtt: p50s('mqtt'),
      floor: p50s('floor'),
      target: `<= ${TARGETS.seqP50Us} us`,
      met: has(p50s('ours')) ? median(p50s('ours')) <= TARGETS.seqP50Us : undefined,
      measured: `${us(median(p50s('ours')))} us`,
    },
    {
      ...base,
      workload: 'request/reply via hub, sequential p99',
      unit: 'us',
      higherIsBetter: false,
      ours: p99s('ours'),
      nats: p99s('nats'),
      mqtt: p99s('mqtt'),
      floor: p99s('floor'),
      target: `<= ${TARGETS.seqP99Us} us`,
      met: has(p99s('ours')) ? median(p99s('ours')) <= TARGETS.seqP99Us : undefined,
      measured: `${us(median(p99s('ours')))} us`,
    },
    {
      ...base,
      workload: `request/reply via hub, ${INFLIGHT} in flight`,
      unit: 'rt/s',
      higherIsBetter: true,
      ours: oursPipe,
      nats: g(pipe, 'nats'),
      mqtt: g(pipe, 'mqtt'),
      floor: g(pipe, 'floor'),
      target: `>= ${TARGETS.ofNats.toFixed(1)}x NATS`,
      met: has(g(pipe, 'nats')) ? med(oursPipe, g(pipe, 'nats')) >= TARGETS.ofNats : undefined,
      measured: x2(med(oursPipe, g(pipe, 'nats'))),
    },
    {
      ...base,
      workload: `request/reply via hub, ${INFLIGHT} in flight, of the floor`,
      unit: 'rt/s',
      higherIsBetter: true,
      ours: oursPipe,
      floor: g(pipe, 'floor'),
      target: `>= ${pct(TARGETS.ofFloor)} of floor`,
      met: has(oursPipe) ? med(oursPipe, g(pipe, 'floor')) >= TARGETS.ofFloor : undefined,
      measured: pct(med(oursPipe, g(pipe, 'floor'))),
    },
    {
      ...base,
      workload: `fan-out 1 -> ${SUBSCRIBERS}`,
      unit: 'deliveries/s',
      higherIsBetter: true,
      ours: oursFan,
      nats: g(fan, 'nats'),
      mqtt: g(fan, 'mqtt'),
      floor: g(fan, 'floor'),
      target: `>= ${TARGETS.ofMosquitto.toFixed(1)}x mosquitto`,
      met: has(g(fan, 'mqtt')) ? med(oursFan, g(fan, 'mqtt')) >= TARGETS.ofMosquitto : undefined,
      measured: x2(med(oursFan, g(fan, 'mqtt'))),
    },
    {
      ...base,
      workload: `fan-out 1 -> ${SUBSCRIBERS}, of the floor`,
      unit: 'deliveries/s',
      higherIsBetter: true,
      ours: oursFan,
      floor: g(fan, 'floor'),
      target: `>= ${pct(TARGETS.ofFloor)} of floor`,
      met: has(oursFan) ? med(oursFan, g(fan, 'floor')) >= TARGETS.ofFloor : undefined,
      measured: pct(med(oursFan, g(fan, 'floor'))),
    },
    {
      ...base,
      workload: 'browser path (WebSocket -> bridge -> hub), sequential p50',
      unit: 'us',
      higherIsBetter: false,
      ours: p50s('ours ws'),
      nats: p50s('nats ws'),
      measured: `${us(median(p50s('ours ws')))} us`,
    },
    {
      ...base,
      workload: `browser path (WebSocket -> bridge -> hub), ${INFLIGHT} in flight`,
      unit: 'rt/s',
      higherIsBetter: true,
      ours: g(pipe, 'ours ws'),
      nats: g(pipe, 'nats ws'),
      measured: x2(med(g(pipe, 'ours ws'), g(pipe, 'nats ws'))),
    },
    {
      ...base,
      workload: 'JSON encode + decode of the request alone (floor, CPU time, one process)',
      unit: 'us',
      higherIsBetter: false,
      ours: [],
      floor: json,
      measured: `${median(json).toFixed(2)} us`,
    },
  ];
  return out;
}

const startLoad = loadLine();
try {
  console.log(machineInfo());
  if (cpus().length < 2) console.log('(one core: every process of a topology shares it; rates are low)');
  const brokers = await startBrokers();
  await requestReply(brokers);
  // --smoke checks the harness in a few seconds: every process start costs about a second of
  // CPU, so it leaves out the browser path and the fan-out (a dozen processes more).
  if (!smoke) await fanOut(brokers);
  else console.log('--smoke: request/reply over TCP only (browser path and fan-out not run)');
  report(startLoad);
} finally {
  await stopAll();
  await stopBrokers();
}
