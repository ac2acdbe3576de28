/**
 * Memory of idle connections, every role in its own process on loopback:
 *
 *   npm run bench:memory            (1,000 modules, then 1,000 WebSocket clients)
 *   npm run bench:memory -- --quick (200 of each)
 *
 * 1. IpcServer: RSS and heap of the server process (after a full GC) before and after 1,000
 *    IpcClient modules (two processes of 500) have connected, registered and been initialized,
 *    then sat idle with heartbeats for a few seconds. Target: RSS growth < 50 MiB.
 * 2. Bridge: 1,000 raw `ws` clients (text form; two processes of 500) register through one
 *    bridge (so the bridge also holds 1,000 TCP connections to the server) and stay idle.
 *    Target: bridge RSS < 150 MiB (absolute: the process as a whole, tsx included).
 *
 * Both the server and the bridge run with --expose-gc so every reading follows a full GC; the
 * roles raise their open-file limit (`ulimit -n 8192`) as 1,000 sockets need.
 */
import {
  benchArgs,
  loadLine,
  machineInfo,
  sleep,
  startRole,
  stopAll,
  table,
  verdict,
  type Role,
} from './lib/harness.ts';
import { writeSummary } from './lib/summary.ts';

const { quick } = benchArgs(1);
const CLIENTS = quick ? 200 : 1000;
const PER_PROCESS = CLIENTS / 2;
const IDLE_MS = quick ? 1000 : 5000;
const MIB = 1024 * 1024;
const SERVER_TARGET = 50 * MIB;
const BRIDGE_TARGET = 150 * MIB;
const ROLE_OPTIONS = { ulimit: 8192, nodeFlags: ['--expose-gc'] };

interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
}

async function memoryOf(role: Role): Promise<Memory> {
  return (await role.call({ cmd: 'memory' }, 'memory')).memory as Memory;
}

/** A baseline: start-up garbage (tsx compiling the sources) collected and its pages returned. */
async function settledMemoryOf(role: Role): Promise<Memory> {
  await memoryOf(role);
  await sleep(1000);
  await memoryOf(role);
  await sleep(500);
  return memoryOf(role);
}

const mib = (bytes: number): string => `${(bytes / MIB).toFixed(1)}`;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)}`;

function row(what: string, before: Memory, after: Memory, target: string, ok: boolean): string[] {
  return [
    what,
    mib(before.rss),
    mib(after.rss),
    mib(after.rss - before.rss),
    kib((after.rss - before.rss) / CLIENTS),
    mib(after.heapUsed - before.heapUsed),
    mib(after.external - before.external),
    target,
    verdict(ok),
  ];
}

try {
  console.log(machineInfo());
  const { role: server, ready } = await startRole('sdk-hub', 'sdk.ts', ['hub', String(CLIENTS * 2 + 100)], ROLE_OPTIONS);
  const address = String(ready.address);
  const serverBefore = await settledMemoryOf(server);

  // 1. IpcClient modules over TCP.
  const idlers = await Promise.all(
    [0, 1].map((p) =>
      startRole(`idlers${p}`, 'sdk.ts', ['idlers', `tcp:${address}`, String(PER_PROCESS), `m${p}_`], {
        ulimit: 8192,
        readyTimeoutMs: 180_000,
      }),
    ),
  );
  const connected = idlers.reduce((n, i) => n + Number(i.ready.connected), 0);
  await sleep(IDLE_MS);
  const serverAfter = await memoryOf(server);
  const serverLoad = loadLine();
  await Promise.all(idlers.map((i) => i.role.stop()));
  await sleep(1500); // the server notices the modules leave

  // 2. Raw WebSocket clients through one bridge.
  const { role: bridge, ready: bready } = await startRole('bridge', 'bridge.ts', ['bridge', address, String(CLIENTS + 100)], ROLE_OPTIONS);
  const bridgeBefore = await settledMemoryOf(bridge);
  const wsIdlers = await Promise.all(
    [0, 1].map((p) =>
      startRole(`ws-idlers${p}`, 'bridge.ts', ['ws-idlers', String(bready.url), String(PER_PROCESS), `w${p}_`], {
        ulimit: 8192,
        readyTimeoutMs: 180_000,
      }),
    ),
  );
  const wsConnected = wsIdlers.reduce((n, i) => n + Number(i.ready.connected), 0);
  await sleep(IDLE_MS);
  const bridgeAfter = await memoryOf(bridge);

  console.log(`\n### Memory of idle connections${quick ? ' (--quick)' : ''}\n`);
  console.log(
    `${connected} IpcClient modules (TCP) registered and idle ${IDLE_MS} ms; then ${wsConnected} raw ws clients (text) registered through one bridge and idle ${IDLE_MS} ms. MiB after a full GC.\n`,
  );
  console.log(
    table(
      ['process', 'RSS before', 'RSS after', 'RSS growth', 'KiB / conn', 'heap growth', 'external growth', 'target', 'verdict'],
      [
        row(`server, ${connected} TCP modules`, serverBefore, serverAfter, 'growth < 50 MiB', serverAfter.rss - serverBefore.rss < SERVER_TARGET),
        row(`bridge, ${wsConnected} ws clients`, bridgeBefore, bridgeAfter, 'RSS < 150 MiB', bridgeAfter.rss < BRIDGE_TARGET),
      ],
    ),
  );
  console.log(`\n${serverLoad} (server phase)\n${loadLine()} (bridge phase)`);
  writeSummary([
    {
      bench: 'memory',
      workload: `server RSS growth, ${connected} idle TCP modules`,
      unit: 'MiB',
      higherIsBetter: false,
      ours: [(serverAfter.rss - serverBefore.rss) / MIB],
      target: '< 50 MiB',
      met: serverAfter.rss - serverBefore.rss < SERVER_TARGET,
    },
    {
      bench: 'memory',
      workload: `bridge RSS, ${wsConnected} idle WebSocket clients`,
      unit: 'MiB',
      higherIsBetter: false,
      ours: [bridgeAfter.rss / MIB],
      target: '< 150 MiB',
      met: bridgeAfter.rss < BRIDGE_TARGET,
    },
  ]);
} finally {
  await stopAll();
}
