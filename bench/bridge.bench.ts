/**
 * WebSocket bridge benchmark: request round trips from a Node client through the bridge, against
 * the same requests over direct TCP, in the same run. Every role in its own process on loopback:
 *
 *   npm run bench:bridge            (5 runs)
 *   npm run bench:bridge -- --quick (1 short run)
 *
 * Paths, all to the same responder module `b` (bench/roles/sdk.ts) through one IpcServer:
 *   - direct TCP:  IpcClient over tcpConnector -> server -> responder
 *   - ws text:     IpcClient over webSocketConnector (`ws` injected, text form) -> bridge -> server -> responder
 *   - ws binary:   the same with binary frames
 * Workloads: sequential round trips (p50/p99 over N after a warm-up) and 64 in flight (round
 * trips/s). The bridge runs without tokens, its log off and its per-connection rate limit raised
 * (bench/roles/bridge.ts): the default 200 messages/s per browser would be what is measured.
 * Targets: bridge throughput >= 60% of direct TCP; bridge p50 <= 2x direct TCP. `CPU us / rt` adds
 * up the CPU time (/proc) of every process on the path per pipelined round trip: it hardly
 * moves with the load other programs put on the machine, unlike the rates.
 */
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
import { ratios, writeSummary } from './lib/summary.ts';

const { quick, runs } = benchArgs(5);
const SEQ_N = quick ? 1000 : 5000;
const SEQ_WARMUP = quick ? 300 : 1000;
const PIPE_MS = quick ? 500 : 1500;
const WARMUP_MS = quick ? 200 : 400;
const INFLIGHT = 64;

const PATHS = ['direct TCP', 'ws text', 'ws binary'] as const;
type Path = (typeof PATHS)[number];

interface Seq {
  p50: number;
  p99: number;
}

const seq = new Map<Path, Seq[]>(PATHS.map((p) => [p, []]));
const pipe = new Map<Path, number[]>(PATHS.map((p) => [p, []]));
/** CPU microseconds per round trip, every process on the path (warm-up included). */
const pipeCpu = new Map<Path, number[]>(PATHS.map((p) => [p, []]));

const startLoad = loadLine();
try {
  console.log(machineInfo());
  const { role: hubRole, ready: hub } = await startRole('sdk-hub', 'sdk.ts', ['hub']);
  const address = String(hub.address);
  const { role: responder } = await startRole('sdk-responder', 'sdk.ts', ['responder', `tcp:${address}`]);
  const { role: bridgeRole, ready: bridge } = await startRole('bridge', 'bridge.ts', ['bridge', address]);
  const url = String(bridge.url);
  const peers: Record<Path, string> = {
    'direct TCP': `tcp:${address}`,
    'ws text': `ws-text:${url}`,
    'ws binary': `ws-binary:${url}`,
  };
  const askers = new Map<Path, Role>();
  await Promise.all(
    PATHS.map(async (p, i) => {
      const { role } = await startRole(`asker ${p}`, 'sdk.ts', ['asker', peers[p], `a${i}`]);
      askers.set(p, role);
    }),
  );
  for (let r = 0; r < runs; r++) {
    // Rotate the order, so drift in the machine's load hits every path alike.
    const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length] as Path);
    for (const p of order) {
      const res = await (askers.get(p) as Role).call({ cmd: 'seq', warmup: SEQ_WARMUP, n: SEQ_N }, 'seq');
      seq.get(p)?.push(res.seq as Seq);
    }
    for (const p of order) {
      const asker = askers.get(p) as Role;
      const roles = [hubRole, responder, asker, ...(p === 'direct TCP' ? [] : [bridgeRole])];
      const cpu = (): number => roles.reduce((sum, r) => sum + r.cpuSeconds(), 0);
      const c0 = cpu();
      const res = await asker.call(
        { cmd: 'pipe', inflight: INFLIGHT, warmupMs: WARMUP_MS, ms: PIPE_MS },
        'pipe',
      );
      const { rate, all } = res.pipe as { rate: number; all: number };
      pipe.get(p)?.push(rate);
      pipeCpu.get(p)?.push(((cpu() - c0) / all) * 1e6);
    }
    process.stderr.write(`  run ${r + 1}/${runs} done\n`);
  }

  const tcpP50 = (seq.get('direct TCP') ?? []).map((s) => s.p50);
  const tcpRate = pipe.get('direct TCP') ?? [];
  const rows = PATHS.map((p) => {
    const s = seq.get(p) ?? [];
    const rates = pipe.get(p) ?? [];
    const p50 = s.map((x) => x.p50);
    return [
      p,
      withSpread(pipeCpu.get(p) ?? [], (x) => x.toFixed(1)),
      withSpread(p50, us),
      withSpread(
        s.map((x) => x.p99),
        us,
      ),
      withSpread(rates, int),
      p === 'direct TCP' ? '-' : withSpread(rates.map((x, i) => x / (tcpRate[i] as number)), pct),
      p === 'direct TCP'
        ? '-'
        : withSpread(
            p50.map((x, i) => x / (tcpP50[i] as number)),
            (x) => `${x.toFixed(2)}x`,
          ),
    ];
  });
  console.log(`\n### Bridge vs direct TCP, ${runs} run(s)${quick ? ' (--quick)' : ''}\n`);
  console.log(machineInfo().replace(/\nload average.*$/, ''));
  console.log(`${startLoad} (before the run)`);
  console.log(
    `request ~200 B JSON to module b via one IpcServer; sequential n=${SEQ_N} after ${SEQ_WARMUP} warm-up; ${INFLIGHT} in flight for ${PIPE_MS} ms\n`,
  );
  console.log(
    table(
      [
        'path',
        'CPU us / rt',
        'p50 us',
        'p99 us',
        `${INFLIGHT} in flight rt/s`,
        'throughput vs TCP',
        'p50 vs TCP',
      ],
      rows,
    ),
  );
  const targets: string[][] = [];
  for (const p of ['ws text', 'ws binary'] as const) {
    const share = median((pipe.get(p) ?? []).map((x, i) => x / (tcpRate[i] as number)));
    const slower = median((seq.get(p) ?? []).map((x, i) => x.p50 / (tcpP50[i] as number)));
    targets.push([`${p}: throughput >= 60% of TCP`, pct(share), verdict(share >= 0.6)]);
    targets.push([`${p}: p50 <= 2x TCP`, `${slower.toFixed(2)}x`, verdict(slower <= 2)]);
  }
  console.log('\n' + table(['target', 'median', 'verdict'], targets));
  writeSummary(
    (['ws text', 'ws binary'] as const).flatMap((p) => {
      const rates = pipe.get(p) ?? [];
      const p50 = (seq.get(p) ?? []).map((x) => x.p50);
      const base = { bench: 'bridge', baselineName: 'direct TCP' };
      return [
        { ...base, workload: `${p} via the bridge, sequential p50`, unit: 'us', higherIsBetter: false, ours: p50, floor: tcpP50, target: '<= 2x direct TCP', met: median(ratios(p50, tcpP50)) <= 2 },
        { ...base, workload: `${p} via the bridge, ${INFLIGHT} in flight`, unit: 'rt/s', higherIsBetter: true, ours: rates, floor: tcpRate, target: '>= 60% of direct TCP', met: median(ratios(rates, tcpRate)) >= 0.6 },
      ];
    }),
  );
  console.log(`\n${loadLine()} (at the end; the benchmark's own processes count in it)`);
} finally {
  await stopAll();
}
