/**
 * Item 4 of the reliability issue: the server is killed with SIGKILL (a real separate process,
 * so the kernel closes its sockets and nothing is flushed or finalized) at random points while
 * several IpcClient modules keep bursts of requests in flight, then restarted on the same port.
 *
 *   1. quick cycles (CI 200): a warm standby process takes the port over right after the kill,
 *      the modules reconnect on a fast schedule, the next kill comes at a random point;
 *   2. rolling restarts (CI about 40 s): `startStack` kills and restarts the server every few
 *      seconds while the modules use the default reconnect schedule of PROTOCOL.md section 4.
 *
 * Held to: every request settles within the request timeout + 1 s; once the load stops the
 * clients' pending maps are empty and their timers are back to the idle count; no module goes
 * longer than the backoff cap + 2 s without a successful round trip while a server is up
 * (the time the server is down is not the module's to answer for; the figure gives both).
 * The gap is a latency, so the figure holds its target and the test fails only at 3x it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { IpcClient } from '../../src/client/ipc-client.ts';
import { DEFAULT_RECONNECT, type ReconnectOptions } from '../../src/client/backoff.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import { seededRandom } from '../support/fault-proxy.ts';
import {
  EchoHandler,
  RequestLedger,
  RoundTripGaps,
  TimerCensus,
  activeTimers,
  formatOutcomes,
  runLoad,
  waitUntil,
} from './support/fault-load.ts';
import { StandbyServers } from './support/fault-server-process.ts';
import { byMode, recordFigure } from './support/figures.ts';
import { startStack, type Stack } from './support/stack-process.ts';

const REQUEST_TIMEOUT_MS = 1000;
const SETTLE_BOUND_MS = REQUEST_TIMEOUT_MS + 1000;
const MODULES = 4;
const CONCURRENCY = 6;
const QUICK_CYCLES = byMode(200, 1000);
/**
 * Wall-clock cap of the quick phase: on a saturated machine a cycle can take seconds (processes
 * start slowly), and the test must still end by itself. Fewer cycles than asked show up as a
 * missed figure; fewer than a quarter fail the test.
 */
const QUICK_BUDGET_MS = byMode(90_000, 900_000);
const ROLLING_MS = byMode(32_000, 300_000);
/** The quick phase reconnects fast; its cap is what "backoff cap + 2 s" refers to there. */
const QUICK_RECONNECT: ReconnectOptions = {
  firstDelayMaxMs: 20,
  initialDelayMs: 25,
  maxDelayMs: 1000,
};

const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const random = seededRandom(seed);
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Modules {
  names: string[];
  clients: IpcClient[];
  close(): Promise<void>;
}

async function startModules(
  address: string,
  prefix: string,
  reconnect: ReconnectOptions,
): Promise<Modules> {
  const names = Array.from({ length: MODULES }, (_, i) => `${prefix}${i}`);
  const clients: IpcClient[] = [];
  for (const name of names) {
    const client = await IpcClient.connect(
      tcpConnector(address, { timeoutMs: 2000 }),
      new EchoHandler(name, 10, random),
      { requestTimeoutMs: REQUEST_TIMEOUT_MS, reconnect, connectTimeoutMs: 20_000 },
    );
    clients.push(client);
  }
  const close = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.close({ timeoutMs: 200 })));
  };
  cleanup.push(close);
  return { names, clients, close };
}

/** Checks and figures shared by both phases, once the load has stopped. */
async function settleAndCheck(
  phase: string,
  m: Modules,
  ledger: RequestLedger,
  gaps: RoundTripGaps,
  capMs: number,
  census: TimerCensus,
  idle: { census: number; active: number },
  times: string,
  complete = true,
): Promise<void> {
  await ledger.settled(SETTLE_BOUND_MS + 1000);
  const connected = await waitUntil(() => m.clients.every((c) => c.isConnected), capMs + 2000);
  // Timers go back to the idle count once every deadline has been cleared.
  const timersBack = await waitUntil(
    () => census.count <= idle.census && activeTimers() <= idle.active,
    3000,
  );
  const s = ledger.summary(SETTLE_BOUND_MS);
  const pending = m.clients.reduce((n, c) => n + c.pending + c.inflight + c.buffered, 0);
  const gapTarget = capMs + 2000;
  const ok =
    complete &&
    s.unsettled === 0 &&
    s.late === 0 &&
    s.wrongAnswers.length === 0 &&
    pending === 0 &&
    timersBack &&
    gaps.maxGapMs <= gapTarget;
  recordFigure({
    item: 4,
    name: `kill -9 and restart: ${phase}`,
    tried: `${MODULES} modules x ${CONCURRENCY} requests in flight (timeout ${REQUEST_TIMEOUT_MS} ms) while the server process is SIGKILLed at random points and restarted on its port (seed ${seed})`,
    times,
    figure: `${s.total} requests: ${s.total - s.unsettled} settled (${formatOutcomes(s)}), slowest ${Math.round(s.maxSettleMs)} ms, ${s.late} late; pending after ${pending}; SDK timers ${census.count} (idle ${idle.census}), ref'd timers ${activeTimers()} (idle ${idle.active}); longest gap without a round trip ${Math.round(gaps.maxGapMs)} ms while the server was up (${Math.round(gaps.maxRawGapMs)} ms counting outages of up to ${Math.round(gaps.maxOutageMs)} ms); slowest comeback ${Math.round(gaps.slowestComebackMs)} ms after a restart, ${gaps.missedWindows} restarts killed again before every module had a round trip`,
    target: `100% settle within ${SETTLE_BOUND_MS} ms, pending and timers back to idle, gap (server up) <= ${gapTarget} ms`,
    ok,
  });
  expect(s.unsettled, 'requests that never settled').toBe(0);
  expect(s.multiSettled).toBe(0);
  expect(s.wrongAnswers).toEqual([]);
  expect(s.late, `requests settled later than ${SETTLE_BOUND_MS} ms`).toBe(0);
  expect(connected, 'every module reconnected after the last restart').toBe(true);
  expect(pending, 'requests left in the pending maps').toBe(0);
  expect(
    timersBack,
    `timers ${census.count}/${activeTimers()} back to idle ${idle.census}/${idle.active}`,
  ).toBe(true);
  // The gap is a latency: on a saturated shared machine a reconnect and registration can take
  // seconds of CPU starvation. The figure holds the exact target; the test fails only at 3x it.
  expect(gaps.maxGapMs, `per module: ${JSON.stringify(gaps.byModule())}`).toBeLessThanOrEqual(
    3 * gapTarget,
  );
  expect(s.resolved).toBeGreaterThan(0);
}

/** Idle timer counts of the connected, quiet modules. */
/** Every module requests every module and `system`, CONCURRENCY at a time, until `stop` aborts. */
function loadAll(m: Awaited<ReturnType<typeof startModules>>, ledger: RequestLedger) {
  const gaps = new RoundTripGaps();
  for (const n of m.names) gaps.start(n);
  const stop = new AbortController();
  const load = runLoad(m.clients, stop.signal, {
    ledger,
    targets: [...m.names, 'system'],
    concurrency: CONCURRENCY,
    random,
    gaps,
  });
  return { gaps, stop, load };
}

async function idleTimers(census: TimerCensus): Promise<{ census: number; active: number }> {
  await delay(300);
  return { census: census.count, active: activeTimers() };
}

describe('modules while the server is killed with SIGKILL and restarted', () => {
  it(`settle every request across ${QUICK_CYCLES} quick kill/restart cycles`, async () => {
    console.log(`[reliability 4] kill/restart seed ${seed} (replay with FAULT_SEED=${seed})`);
    const servers = await StandbyServers.create({}, 2);
    cleanup.push(() => servers.close());
    let server = await servers.listen(0);
    const port = server.port;
    // Counting starts before the modules connect, so their connections' timers are in the idle count.
    const census = new TimerCensus();
    cleanup.push(async () => census.dispose());
    const m = await startModules(server.address, 'kq', QUICK_RECONNECT);
    const idle = await idleTimers(census);

    const ledger = new RequestLedger();
    const { gaps, stop, load } = loadAll(m, ledger);
    let duringHandshake = 0;
    let cycles = 0;
    const started = performance.now();
    try {
      for (let i = 0; i < QUICK_CYCLES && performance.now() - started < QUICK_BUDGET_MS; i++) {
        // Most kills come while every module is up and busy; the rest at any point after the
        // restart, often while modules are still connecting or registering.
        if (random() < 0.7) {
          const up = await waitUntil(() => m.clients.every((c) => c.isConnected), 10_000, 5);
          expect(up, `cycle ${i}: modules back within 10 s`).toBe(true);
        } else if (!m.clients.every((c) => c.isConnected)) duringHandshake++;
        await delay(random() * 120);
        gaps.down();
        await server.kill();
        server = await servers.listen(port);
        gaps.up();
        cycles++;
      }
    } finally {
      stop.abort();
      await load;
    }
    const elapsed = (performance.now() - started) / 1000;
    gaps.finish();
    await settleAndCheck(
      'quick cycles',
      m,
      ledger,
      gaps,
      QUICK_RECONNECT.maxDelayMs ?? 0,
      census,
      idle,
      `${cycles} kills (of ${QUICK_CYCLES} asked) in ${elapsed.toFixed(0)} s (${duringHandshake} while some module was still reconnecting), ${servers.spawned} server processes`,
      cycles >= QUICK_CYCLES,
    );
    expect(
      cycles,
      `kill/restart cycles done within ${QUICK_BUDGET_MS / 1000} s`,
    ).toBeGreaterThanOrEqual(Math.ceil(QUICK_CYCLES / 4));
    await m.close();
    census.dispose();
  }, QUICK_BUDGET_MS + 120_000);

  it(`keep every module served while the server restarts every few seconds for ${ROLLING_MS / 1000} s`, async () => {
    let stack: Stack = await startStack({});
    cleanup.push(() => stack.kill());
    const port = stack.port;
    const census = new TimerCensus();
    cleanup.push(async () => census.dispose());
    const m = await startModules(stack.address, 'kr', DEFAULT_RECONNECT);
    const idle = await idleTimers(census);

    const ledger = new RequestLedger('rolling-');
    const { gaps, stop, load } = loadAll(m, ledger);
    let restarts = 0;
    const downtimes: number[] = [];
    const started = performance.now();
    try {
      while (performance.now() - started < ROLLING_MS) {
        await delay(3000 + random() * 3000);
        gaps.down();
        await stack.kill();
        const down = performance.now();
        stack = await startStack({ server: { port } });
        gaps.up();
        downtimes.push(performance.now() - down);
        restarts++;
      }
      // Let the modules come back once more after the last restart before stopping.
      await waitUntil(() => m.clients.every((c) => c.isConnected), 12_000);
    } finally {
      stop.abort();
      await load;
    }
    gaps.finish();
    const maxDown = Math.max(...downtimes);
    await settleAndCheck(
      'rolling restarts',
      m,
      ledger,
      gaps,
      DEFAULT_RECONNECT.maxDelayMs,
      census,
      idle,
      `${restarts} restarts in ${((performance.now() - started) / 1000).toFixed(0)} s (server down ${Math.round(Math.min(...downtimes))}-${Math.round(maxDown)} ms each)`,
    );
    await m.close();
    census.dispose();
    await stack.stop();
  }, ROLLING_MS + 120_000);
});
