/**
 * Reliability item 3: slowloris and floods.
 *
 * - 500 connections trickle a byte every so often into a frame header, into a payload and into a
 *   registration, or keep a connection alive with whole Heartbeats and never register: each is
 *   closed by its deadline (frame deadline from the frame's first byte, registration deadline
 *   from connect) + 1 s.
 * - More connections than the server's `maxConnections`: the excess is refused at accept, the
 *   healthy modules are unaffected, and the count returns.
 * - The bridge: handshakes with 2,000 headers, with a very long `Sec-WebSocket-Protocol`, and
 *   handshakes trickled byte by byte (or never sent): refused or timed out, socket closed.
 *
 * Every attack ends with the server's (or bridge's) file descriptors back to their baseline, and
 * a healthy client's round-trip p99 is compared with its baseline measured just before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { byMode, recordFigure } from './support/figures.ts';
import {
  HealthyPair,
  formatLatency,
  percentile,
  sleep,
  type LatencySummary,
} from './support/flood-probe.ts';
import {
  allClosedWithin,
  destroyAll,
  frameDeadlineElapsed,
  heartbeatFrame,
  inWaves,
  openSockets,
  registerFrame,
  trickle,
  type FloodSocket,
} from './support/flood-sockets.ts';
import { ProbeProcess } from './support/flood-probe-process.ts';
import { startStack, type Stack } from './support/stack-process.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { CommandMessage } from '../../src/core/message.ts';

/** Slowloris connections. */
const SLOW = byMode(500, 2000);
/** A byte (or a Heartbeat) every this long. */
const TRICKLE_MS = byMode(1000, 3000);
/** Shortened deadlines (defaults 30 s and 5 s). */
const FRAME_TIMEOUT_MS = byMode(2500, 8000);
const REGISTRATION_TIMEOUT_MS = byMode(4000, 12_000);
/** The bridge's handshake deadline (its HTTP headersTimeout, fixed at 10 s). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Excess connections thrown at a full server. */
const EXCESS = byMode(300, 2000);
const MAX_CONNECTIONS = 100;
/** Hostile bridge handshakes of each kind. */
const BAD_HANDSHAKES = byMode(100, 500);
const SLOW_HANDSHAKES = byMode(100, 500);
/** Baseline length of the healthy probe. */
const BASELINE_MS = 1500;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track<T>(value: T, dispose: (v: T) => Promise<void> | void): T {
  cleanups.push(() => dispose(value));
  return value;
}

/**
 * Loose sanity bound on the healthy p99 under attack. The issue's target (p99 <= 2x baseline) is
 * the figure's verdict, not an assertion: on a shared 2-core machine latency moves with load.
 */
function expectSane(during: LatencySummary, baseline: LatencySummary): void {
  expect(during.failures).toBe(0);
  expect(during.count).toBeGreaterThan(0);
  expect(during.p99).toBeLessThan(Math.max(10 * baseline.p99, 1000));
}

function recordLatency(
  name: string,
  tried: string,
  times: string,
  base: LatencySummary,
  during: LatencySummary,
): void {
  const ratio = during.p99 / base.p99;
  recordFigure({
    item: 3,
    name: `${name}: healthy p99`,
    tried,
    times,
    figure: `p99 ${during.p99.toFixed(1)} ms vs baseline ${base.p99.toFixed(1)} ms (${ratio.toFixed(2)}x); during: ${formatLatency(during)}`,
    target: 'p99 <= 2x baseline',
    ok: during.failures === 0 && ratio <= 2,
  });
}

/** Close delay of each socket from the start of its deadline; `undefined` when still open. */
function delays(
  socks: readonly FloodSocket[],
  from: (s: FloodSocket) => number | undefined,
): number[] {
  return socks.map((s) =>
    s.closedAt === undefined || from(s) === undefined
      ? Number.NaN
      : s.closedAt - (from(s) as number),
  );
}

function range(ds: number[]): string {
  return `${Math.min(...ds).toFixed(0)}-${Math.max(...ds).toFixed(0)} ms`;
}

/**
 * Every delay within deadline +- 1 s; NaN (never closed) fails. Not "never before the deadline"
 * to the millisecond: the test sees both ends of the interval through its own busy event loop,
 * and the server arms its timers against its loop's cached clock, which lags by as long as an
 * iteration takes while hundreds of connections arrive. Which deadline closed each connection is
 * checked from the server's reasons instead.
 */
function expectByDeadline(ds: number[], deadlineMs: number): void {
  for (const d of ds) {
    expect(d).toBeGreaterThanOrEqual(deadlineMs - 1000);
    expect(d).toBeLessThan(deadlineMs + 1000);
  }
}

async function backToBaseline(
  stack: Stack,
  base: { fds: number; connections: number },
): Promise<number> {
  await expect
    .poll(async () => (await stack.stats()).connections, { timeout: 5000 })
    .toBe(base.connections);
  await expect.poll(async () => (await stack.stats()).fds, { timeout: 5000 }).toBe(base.fds);
  return (await stack.stats()).fds;
}

describe('reliability 3: slowloris and floods', () => {
  it(`closes ${SLOW} slowloris connections by their frame or registration deadline`, async () => {
    const stack = track(
      await startStack({
        server: {
          frameTimeoutMs: FRAME_TIMEOUT_MS,
          registrationTimeoutMs: REGISTRATION_TIMEOUT_MS,
          heartbeatMs: 60_000,
          // Room for every slowloris connection (the default is 1024).
          maxConnections: SLOW + 16,
        },
        events: ['disconnected'],
      }),
      (s) => s.stop(),
    );
    const pair = track(await ProbeProcess.start({ kind: 'pair', address: stack.address }), (p) =>
      p.close(),
    );
    const base = await stack.stats({ gc: true });
    const baseline = await pair.measure(BASELINE_MS);

    const socks = track(await openSockets(stack.port, SLOW), destroyAll);
    const quarter = Math.ceil(SLOW / 4);
    const header = socks.slice(0, quarter);
    const payload = socks.slice(quarter, 2 * quarter);
    const registration = socks.slice(2 * quarter, 3 * quarter);
    const keepAlive = socks.slice(3 * quarter);
    const request = encodeFrame(CommandMessage.request('victim.op', { pad: 'x'.repeat(100) }));

    const since = Date.now();
    const probe = pair.probe(10);
    const trickles: Array<Promise<void>> = [];
    // Start in waves, so each connection's deadline is its own (see inWaves).
    await inWaves(socks, 50, 20, (s) => {
      if (header.includes(s)) trickles.push(trickle(s, request, TRICKLE_MS));
      else if (payload.includes(s)) {
        s.write(request.subarray(0, 5));
        trickles.push(trickle(s, request.subarray(5), TRICKLE_MS));
      } else if (registration.includes(s))
        trickles.push(trickle(s, registerFrame(`slow${socks.indexOf(s)}`), TRICKLE_MS));
      else
        trickles.push(
          (async () => {
            // Whole Heartbeats keep it "heard" and no frame is ever left half-sent: only the
            // registration deadline can end it.
            while (s.closedAt === undefined) {
              s.write(heartbeatFrame());
              await Promise.race([sleep(TRICKLE_MS), s.closed]);
            }
          })(),
        );
    });
    const late = await allClosedWithin(socks, REGISTRATION_TIMEOUT_MS + 1500);
    const during = await probe.stop();
    await Promise.all(trickles);
    const fdsAfter = await backToBaseline(stack, base);

    const dHeader = delays(header, (s) => s.firstWriteAt);
    const dPayload = delays(payload, (s) => s.firstWriteAt);
    const dReg = delays(registration, (s) => s.firstWriteAt);
    const dKeep = delays(keepAlive, (s) => s.openedAt);
    const reasons = stack.events
      .filter((e) => e.event === 'disconnected' && e.at >= since)
      .map((e) => String((e.detail as { error?: unknown }).error ?? ''));
    const allInTime =
      [dHeader, dPayload, dReg].every((ds) => ds.every((d) => d < FRAME_TIMEOUT_MS + 1000)) &&
      dKeep.every((d) => d < REGISTRATION_TIMEOUT_MS + 1000);
    recordFigure({
      item: 3,
      name: 'slowloris on the server',
      tried: `${SLOW} connections: a byte every ${TRICKLE_MS} ms into a header, into a payload, into a Register frame, or a whole Heartbeat every ${TRICKLE_MS} ms without registering (frame deadline ${FRAME_TIMEOUT_MS} ms, registration deadline ${REGISTRATION_TIMEOUT_MS} ms)`,
      times: `${SLOW} connections`,
      figure: `closed ${socks.length - late.length}/${socks.length} (${reasons.filter((r) => /frame incomplete/.test(r)).length} by the frame deadline, ${reasons.filter((r) => /did not register/.test(r)).length} by the registration deadline); after first byte: header ${range(dHeader)}, payload ${range(dPayload)}, registration ${range(dReg)}; heartbeat-only after connect ${range(dKeep)}; fds ${base.fds} -> ${fdsAfter}`,
      target: 'all closed within their deadline + 1 s, fds back to baseline',
      ok: late.length === 0 && allInTime && fdsAfter === base.fds,
    });
    recordLatency(
      'slowloris on the server',
      `module-to-module round trips during ${SLOW} slowloris connections`,
      `${SLOW} connections`,
      baseline,
      during,
    );

    expect(late).toHaveLength(0);
    expectByDeadline(dHeader, FRAME_TIMEOUT_MS);
    expectByDeadline(dPayload, FRAME_TIMEOUT_MS);
    expectByDeadline(dReg, FRAME_TIMEOUT_MS);
    expectByDeadline(dKeep, REGISTRATION_TIMEOUT_MS);
    expect(reasons.filter((r) => /frame incomplete/.test(r))).toHaveLength(3 * quarter);
    // By the server's own clock, each frame deadline fired on time, within 1 s after it.
    const elapsed = frameDeadlineElapsed(reasons);
    expect(Math.min(...elapsed)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS);
    expect(Math.max(...elapsed)).toBeLessThan(FRAME_TIMEOUT_MS + 1000);
    expect(reasons.filter((r) => /did not register/.test(r))).toHaveLength(keepAlive.length);
    expect(fdsAfter).toBe(base.fds);
    expectSane(during, baseline);
  });

  it(`refuses ${EXCESS} connections over maxConnections at accept; the healthy modules carry on`, async () => {
    const stack = track(
      await startStack({
        server: {
          maxConnections: MAX_CONNECTIONS,
          registrationTimeoutMs: 60_000,
          heartbeatMs: 60_000,
        },
      }),
      (s) => s.stop(),
    );
    const pair = track(await ProbeProcess.start({ kind: 'pair', address: stack.address }), (p) =>
      p.close(),
    );
    const base = await stack.stats({ gc: true });
    const baseline = await pair.measure(BASELINE_MS);

    // Fill the server up to its limit with idle connections (the pair holds 2).
    const fillers = track(
      await openSockets(stack.port, MAX_CONNECTIONS - base.connections),
      destroyAll,
    );
    await expect.poll(async () => (await stack.stats()).connections).toBe(MAX_CONNECTIONS);

    const probe = pair.probe(10);
    // Each excess connection is accepted by the kernel, then closed by the server at once.
    const excess = track(await openSockets(stack.port, EXCESS, { concurrency: 50 }), destroyAll);
    const late = await allClosedWithin(excess, 1500);
    const closeAfter = excess.map((s) => (s.closedAt ?? Number.NaN) - s.openedAt);
    const full = await stack.stats();
    const during = await probe.stop();

    // The count returns: fillers gone, the server accepts (and registers) a new module.
    destroyAll(fillers);
    const fdsAfter = await backToBaseline(stack, base);
    const newcomer = track(await HealthyPair.start(stack.address, '_new'), (p) => p.close());
    const rt = await newcomer.roundTrip();

    recordFigure({
      item: 3,
      name: 'connections over maxConnections',
      tried: `server full (${MAX_CONNECTIONS} connections incl. a healthy module pair), then ${EXCESS} more connections`,
      times: `${EXCESS} excess connections`,
      figure: `refused ${EXCESS - late.length}/${EXCESS}, closed ${percentile(closeAfter, 50).toFixed(0)} ms (p50) / ${Math.max(...closeAfter).toFixed(0)} ms (max) after connect; connections while full ${full.connections}; fds ${base.fds} -> ${fdsAfter}; a new module registered afterwards (round trip ${rt.toFixed(1)} ms)`,
      target: 'refused at accept, the count returns, fds back to baseline',
      ok: late.length === 0 && full.connections === MAX_CONNECTIONS && fdsAfter === base.fds,
    });
    recordLatency(
      'connections over maxConnections',
      `module-to-module round trips while ${EXCESS} excess connections are refused`,
      `${EXCESS} excess connections`,
      baseline,
      during,
    );

    expect(late).toHaveLength(0);
    expect(Math.max(...closeAfter)).toBeLessThan(1000);
    // Nothing got past the limit: no excess connection was ever counted.
    expect(full.connections).toBe(MAX_CONNECTIONS);
    expect(fdsAfter).toBe(base.fds);
    expectSane(during, baseline);
  });

  describe('the bridge', () => {
    async function bridgeStack(): Promise<{ stack: Stack; port: number; healthy: ProbeProcess }> {
      const stack = track(await startStack({ bridge: {} }), (s) => s.stop());
      // Registered, with a first round trip made (the server has read its Initialize answer).
      const healthy = track(
        await ProbeProcess.start({
          kind: 'ws',
          url: stack.bridgeUrl as string,
          name: 'hmi_healthy',
        }),
        (h) => h.close(),
      );
      return { stack, port: stack.bridgePort as number, healthy };
    }

    function upgradeHead(port: number, extra: string): string {
      return (
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
      );
    }

    it(`refuses ${4 * BAD_HANDSHAKES} oversized handshakes (2,000 headers, huge Sec-WebSocket-Protocol) and closes them`, async () => {
      const { stack, port, healthy } = await bridgeStack();
      const base = await stack.stats({ gc: true });
      const baseline = await healthy.measure(BASELINE_MS);

      const kinds: Array<{ name: string; head: string; status: number }> = [
        // 2,000 short headers: within the byte limit, over the count limit.
        { name: '2,000 headers', head: upgradeHead(port, 'x:1\r\n'.repeat(2000)), status: 431 },
        // 2,000 longer headers: over the byte limit too (the HTTP parser refuses it).
        {
          name: '2,000 long headers',
          head: upgradeHead(
            port,
            Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(20)}\r\n`).join(''),
          ),
          status: 431,
        },
        // One 64 KiB subprotocol header.
        {
          name: '64 KiB Sec-WebSocket-Protocol',
          head: upgradeHead(port, `Sec-WebSocket-Protocol: ${'p'.repeat(64 * 1024)}\r\n`),
          status: 431,
        },
        // 1,500 subprotocols, none of them ours, just under the byte limit.
        {
          name: '1,500 subprotocols',
          head: upgradeHead(
            port,
            `Sec-WebSocket-Protocol: ${Array.from({ length: 1500 }, (_, i) => `p${i}`).join(', ')}\r\n`,
          ),
          status: 400,
        },
      ];
      const probe = healthy.probe(10);
      const results: Array<{
        name: string;
        statuses: Map<number, number>;
        late: number;
        maxMs: number;
      }> = [];
      for (const kind of kinds) {
        const socks = track(
          await openSockets(port, BAD_HANDSHAKES, { concurrency: 50 }),
          destroyAll,
        );
        // In waves, so each close time is the bridge's reaction to one handshake (see inWaves).
        await inWaves(socks, 20, 50, (s) => s.write(kind.head));
        const late = await allClosedWithin(socks, 3000);
        const statuses = new Map<number, number>();
        for (const s of socks) {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(Buffer.concat(s.received).toString('latin1'));
          const status = m === null ? 0 : Number(m[1]);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
        const closeMs = socks.map(
          (s) => (s.closedAt ?? Number.NaN) - (s.firstWriteAt ?? Number.NaN),
        );
        results.push({ name: kind.name, statuses, late: late.length, maxMs: Math.max(...closeMs) });
        destroyAll(socks);
      }
      const during = await probe.stop();
      const fdsAfter = await backToBaseline(stack, base);
      const after = await stack.stats();

      const summary = results
        .map(
          (r) =>
            `${r.name}: ${[...r.statuses].map(([s, n]) => `${n}x ${s}`).join(', ')}, closed within ${r.maxMs.toFixed(0)} ms`,
        )
        .join('; ');
      recordFigure({
        item: 3,
        name: 'oversized bridge handshakes',
        tried: `${BAD_HANDSHAKES} handshakes of each kind: ${kinds.map((k) => k.name).join(', ')}`,
        times: `${kinds.length * BAD_HANDSHAKES} handshakes`,
        figure: `${summary}; fds ${base.fds} -> ${fdsAfter}`,
        target: 'every one refused (4xx), socket closed within 1 s, fds back to baseline',
        ok:
          results.every(
            (r, i) =>
              r.late === 0 && r.statuses.get(kinds[i]!.status) === BAD_HANDSHAKES && r.maxMs < 1000,
          ) && fdsAfter === base.fds,
      });
      recordLatency(
        'oversized bridge handshakes',
        'WebSocket round trips (system.ping through the bridge) during the oversized handshakes',
        `${kinds.length * BAD_HANDSHAKES} handshakes`,
        baseline,
        during,
      );

      results.forEach((r, i) => {
        expect(r.late, r.name).toBe(0);
        expect(r.statuses.get(kinds[i]!.status), r.name).toBe(BAD_HANDSHAKES);
        expect(r.maxMs, r.name).toBeLessThan(1000);
      });
      // None of them got through to the server as a module.
      expect((after.bridge as { connectionsTotal: number }).connectionsTotal).toBe(1);
      expect(fdsAfter).toBe(base.fds);
      expectSane(during, baseline);
    });

    it(`times out ${SLOW_HANDSHAKES} trickled and ${SLOW_HANDSHAKES} silent handshakes within the handshake deadline + 1 s`, async () => {
      const { stack, port, healthy } = await bridgeStack();
      const base = await stack.stats({ gc: true });
      const baseline = await healthy.measure(BASELINE_MS);

      const probe = healthy.probe(10);
      const trickled = track(
        await openSockets(port, SLOW_HANDSHAKES, { concurrency: 50 }),
        destroyAll,
      );
      const silent = track(
        await openSockets(port, SLOW_HANDSHAKES, { concurrency: 50 }),
        destroyAll,
      );
      const head = Buffer.from(upgradeHead(port, 'Sec-WebSocket-Protocol: autocore-ipc.v1\r\n'));
      const trickles = trickled.map((s) => trickle(s, head, TRICKLE_MS));
      const late = await allClosedWithin([...trickled, ...silent], HANDSHAKE_TIMEOUT_MS + 1500);
      const during = await probe.stop();
      await Promise.all(trickles);
      const fdsAfter = await backToBaseline(stack, base);

      // Node counts the handshake deadline from the request's first byte, or from the
      // connection's start while nothing came.
      const dTrickled = delays(trickled, (s) => s.firstWriteAt);
      const dSilent = delays(silent, (s) => s.openedAt);
      const answered408 = trickled.filter((s) =>
        Buffer.concat(s.received).toString('latin1').startsWith('HTTP/1.1 408'),
      ).length;
      const inTime = [...dTrickled, ...dSilent].every((d) => d < HANDSHAKE_TIMEOUT_MS + 1000);
      recordFigure({
        item: 3,
        name: 'slow bridge handshakes',
        tried: `${SLOW_HANDSHAKES} WebSocket upgrades trickled a byte every ${TRICKLE_MS} ms and ${SLOW_HANDSHAKES} connections that send nothing (handshake deadline ${HANDSHAKE_TIMEOUT_MS} ms)`,
        times: `${2 * SLOW_HANDSHAKES} connections`,
        figure: `closed ${2 * SLOW_HANDSHAKES - late.length}/${2 * SLOW_HANDSHAKES}; trickled ${range(dTrickled)} after the first byte (${answered408} answered 408), silent ${range(dSilent)} after connect; fds ${base.fds} -> ${fdsAfter}`,
        target: 'all closed within the deadline + 1 s, fds back to baseline',
        ok: late.length === 0 && inTime && fdsAfter === base.fds,
      });
      recordLatency(
        'slow bridge handshakes',
        'WebSocket round trips (system.ping through the bridge) during the slow handshakes',
        `${2 * SLOW_HANDSHAKES} connections`,
        baseline,
        during,
      );

      expect(late).toHaveLength(0);
      // With Node's default connection sweep (every 30 s) these took 30-40 s.
      for (const d of [...dTrickled, ...dSilent]) {
        expect(d).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS - 50);
        expect(d).toBeLessThan(HANDSHAKE_TIMEOUT_MS + 1000);
      }
      expect(answered408).toBe(SLOW_HANDSHAKES);
      expect(fdsAfter).toBe(base.fds);
      expectSane(during, baseline);
    });
  });
});
