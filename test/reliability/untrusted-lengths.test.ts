/**
 * Reliability item 2: no allocation from untrusted lengths.
 *
 * Hundreds of connections announce huge frames (4 GiB, 2 GiB, just over the limit) and go silent,
 * before and after registration: each is a framing error, closed at once, before the announced
 * size is allocated (PROTOCOL.md sections 1 and 8). Then announcements within the limit whose
 * bytes never come: closed by the frame deadline. Meanwhile a healthy module pair keeps making
 * round trips; the server's RSS (a child process, so the test's own memory does not count) and
 * file descriptors are watched.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FrameDecoder } from '../../src/core/frame-decoder.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { byMode, recordFigure } from './support/figures.ts';
import {
  formatLatency,
  mib,
  percentile,
  sampleStack,
  sleep,
  type LatencySummary,
} from './support/flood-probe.ts';
import {
  allClosedWithin,
  announce,
  closeDelays,
  destroyAll,
  frameDeadlineElapsed,
  inWaves,
  openSockets,
  type FloodSocket,
} from './support/flood-sockets.ts';
import { ProbeProcess } from './support/flood-probe-process.ts';
import { startStack, type Stack } from './support/stack-process.ts';

const MiB = 1024 * 1024;
const PRE_REGISTRATION_LIMIT = 64 * 1024;
const MAX_PAYLOAD = 4 * MiB;
/** Shortened deadlines (defaults 30 s and 5 s), so the suite sees them expire. */
const FRAME_TIMEOUT_MS = 1000;
/**
 * Only a backstop here (the slowloris check holds connections to it): longer than opening all the
 * attackers takes, so it is the frame deadline or the framing error that ends them.
 */
const REGISTRATION_TIMEOUT_MS = byMode(15_000, 60_000);
/** Connections per attack. */
const ATTACKERS = byMode(1000, 4000);
/** Registered attackers (each registers first, which takes longer). */
const REGISTERED_ATTACKERS = byMode(1000, 2000);
/**
 * The bound, 16 MiB per 1,000 hostile connections (the long run uses more of them). It
 * holds the server's RSS growth, and also its ArrayBuffers, of which every frame buffer is one:
 * unlike RSS, they do not move with garbage and young-generation pages, so they show the one
 * mistake this item is about (frame buffers sized from the header: 62.5 MiB per 1,000) however
 * the collector's timing falls.
 */
const RSS_BOUND = 16 * MiB * Math.max(1, Math.max(ATTACKERS, REGISTERED_ATTACKERS) / 1000);
/** The memory sampler's interval. */
const SAMPLE_MS = 100;
/** The attackers act in waves of this many, this far apart (see inWaves). */
const WAVE = 50;
const WAVE_GAP_MS = 50;
/** The target for the healthy round trip under attack. */
const RTT_TARGET_MS = 50;

/**
 * What the test process may add, on a loaded machine, to a close it observes: it notices the
 * close through its own busy event loop. The deadline + 1 s itself is asserted on the server's
 * own measure (see frameDeadlineElapsed).
 */
const OBSERVATION_MS = 1000;

/** Message type 1 (Request): a valid type byte, so only the length decides. */
const REQUEST = 1;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function stackUnderTest(): Promise<Stack> {
  const stack = await startStack({
    server: {
      frameTimeoutMs: FRAME_TIMEOUT_MS,
      registrationTimeoutMs: REGISTRATION_TIMEOUT_MS,
      // No heartbeat traffic in the way of a silent connection, and none closing it first.
      heartbeatMs: 60_000,
      // Room for every attacker (the default is 1024; refusing the excess is item 3's subject).
      maxConnections: Math.max(ATTACKERS, REGISTERED_ATTACKERS) + 16,
    },
    events: ['disconnected'],
  });
  cleanups.push(() => stack.stop());
  return stack;
}

async function healthyPair(stack: Stack): Promise<ProbeProcess> {
  const pair = await ProbeProcess.start({ kind: 'pair', address: stack.address });
  cleanups.push(() => pair.close());
  return pair;
}

/** Registered modules that will turn hostile, `concurrency` registering at a time. */
async function registeredPeers(stack: Stack, count: number, concurrency = 50): Promise<RawPeer[]> {
  const peers: RawPeer[] = [];
  cleanups.push(() => Promise.all(peers.map((p) => p.close())).then(() => undefined));
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      // No heartbeat answers: one written after a partial header would complete it by accident.
      const peer = await RawPeer.connect(stack.address, { answerHeartbeats: false });
      peers.push(peer);
      await peer.registerReady(`hostile${i}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return peers;
}

/** When a registered peer wrote its header and when the server closed it. */
interface Timed {
  sentAt: number;
  closedAt: number | undefined;
  closed: Promise<void>;
}

function sendAndTime(peer: RawPeer, bytes: Uint8Array): Timed {
  const t: Timed = { sentAt: performance.now(), closedAt: undefined, closed: Promise.resolve() };
  t.closed = peer.transport.closed.then(() => {
    t.closedAt = performance.now();
  });
  peer.sendBytes(bytes);
  return t;
}

/** The close reasons the server reported for the connections it dropped. */
function disconnectErrors(stack: Stack, since: number): string[] {
  return stack.events
    .filter((e) => e.event === 'disconnected' && e.at >= since)
    .map((e) => String((e.detail as { error?: unknown }).error ?? ''));
}

interface AttackResult {
  /** Peak RSS during the attack minus RSS with the attackers connected and idle. */
  rssGrowth: number;
  /** heapUsed and external at the RSS peak, over the idle baseline: what the RSS growth held. */
  heapAtPeak: number;
  externalAtPeak: number;
  /**
   * Peak of the server's ArrayBuffers during the attack over the idle baseline: the frame buffers
   * it allocated for the attack. Not a measure of garbage, unlike the heap's or RSS: it grows only
   * with buffers, and one dead but not yet collected can only add to it.
   */
  bufferGrowth: number;
  /** What the idle attacker connections themselves cost (accepting a connection is not the point here). */
  connectionCost: number;
  latency: LatencySummary;
  fdsBefore: number;
  fdsAfter: number;
}

/**
 * Connects the attackers (`connect`, resolving with how many), waits until the server has
 * accepted them all, then runs `attack` with the healthy probe and the memory sampler on, then
 * waits for the server to be back to its connection and fd baseline of before `connect`. Growth
 * is counted from the attackers connected and idle, so it measures what the announced lengths
 * cost, not what 1,000 accepted connections cost (a connect completes in the kernel before the
 * server accepts it: without the wait, a tenth of them could be accepted during the attack).
 */
async function underAttack(
  stack: Stack,
  pair: ProbeProcess,
  connect: () => Promise<number>,
  attack: () => Promise<void>,
): Promise<AttackResult> {
  const base = await stack.stats({ gc: true });
  const attackers = await connect();
  await expect
    .poll(async () => (await stack.stats()).connections, { timeout: 10_000 })
    .toBe(base.connections + attackers);
  const connected = await stack.stats({ gc: true });
  const sampler = sampleStack(stack, SAMPLE_MS);
  const probe = pair.probe(10);
  await attack();
  // A little longer than the attack itself, so the probe also sees the server cleaning up.
  await sleep(300);
  const latency = await probe.stop();
  const peaks = await sampler.stop();
  const atRssPeak = peaks.atPeakRss ?? connected;
  const atBufferPeak = peaks.atPeakArrayBuffers ?? connected;
  await expect
    .poll(async () => (await stack.stats()).connections, { timeout: 5000 })
    .toBe(base.connections);
  await expect.poll(async () => (await stack.stats()).fds, { timeout: 5000 }).toBe(base.fds);
  const after = await stack.stats({ gc: true });
  return {
    rssGrowth: Math.max(0, Math.max(atRssPeak.rss, after.rss) - connected.rss),
    heapAtPeak: atRssPeak.heapUsed - connected.heapUsed,
    externalAtPeak: atRssPeak.external - connected.external,
    bufferGrowth: Math.max(0, atBufferPeak.arrayBuffers - connected.arrayBuffers),
    connectionCost: connected.rss - base.rss,
    latency,
    fdsBefore: base.fds,
    fdsAfter: after.fds,
  };
}

function checkAttack(r: AttackResult): void {
  expect(r.bufferGrowth).toBeLessThan(RSS_BOUND);
  expect(r.rssGrowth).toBeLessThan(RSS_BOUND);
  expect(r.fdsAfter).toBe(r.fdsBefore);
  // Every healthy round trip answered within the probe's 2 s timeout. The 50 ms target itself is
  // the figure's verdict, not an assertion: on a shared 2-core machine latency moves with load.
  expect(r.latency.failures).toBe(0);
  expect(r.latency.count).toBeGreaterThan(0);
}

function recordAttack(
  name: string,
  tried: string,
  times: string,
  r: AttackResult,
  extra: string,
): void {
  recordFigure({
    item: 2,
    name: `${name}: server RSS`,
    tried,
    times,
    figure:
      `ArrayBuffers (frame buffers) peaked ${mib(r.bufferGrowth)} over the idle attackers; ` +
      `RSS grew ${mib(r.rssGrowth)} (at its peak heap ${mib(r.heapAtPeak)}, external ${mib(r.externalAtPeak)}); ` +
      `their connections cost ${mib(r.connectionCost)}; fds ${r.fdsBefore} -> ${r.fdsAfter}; ${extra}`,
    target: `RSS and ArrayBuffer growth < ${mib(RSS_BOUND)}, all closed by their deadline + 1 s, fds back to baseline`,
    ok:
      r.bufferGrowth < RSS_BOUND &&
      r.rssGrowth < RSS_BOUND &&
      r.fdsAfter === r.fdsBefore,
  });
  recordFigure({
    item: 2,
    name: `${name}: healthy round trip`,
    tried: `module-to-module round trips, one every 10 ms, during: ${tried}`,
    times,
    figure: formatLatency(r.latency),
    target: `round trip < ${RTT_TARGET_MS} ms`,
    ok: r.latency.failures === 0 && r.latency.max < RTT_TARGET_MS,
  });
}

const HUGE: Array<[string, number]> = [
  ['4 GiB (0xFFFFFFFF)', 0xffffffff],
  ['2 GiB (0x80000000)', 0x80000000],
  ['0x7FFFFFFF', 0x7fffffff],
];

describe('reliability 2: no allocation from untrusted lengths', () => {
  it('a decoder holds the bytes that arrived, not the size a header announced', () => {
    // In this process, on the decoder alone: 200 decoders each get a header announcing the
    // largest frame they accept, plus 100 bytes of it. Were the frame buffer sized from the
    // header, that would be 200 x 4 MiB of ArrayBuffers.
    const decoders = Array.from(
      { length: 200 },
      () => new FrameDecoder({ maxPayload: MAX_PAYLOAD }),
    );
    const before = process.memoryUsage().arrayBuffers;
    for (const d of decoders) {
      expect(d.push(announce(MAX_PAYLOAD, REQUEST))).toEqual([]);
      expect(d.push(new Uint8Array(100))).toEqual([]);
      expect(d.bufferedBytes).toBe(105);
    }
    const held = process.memoryUsage().arrayBuffers - before;
    recordFigure({
      item: 2,
      name: 'decoder memory for announced frames',
      tried: '200 frame decoders each receive a header announcing 4 MiB and 100 bytes of payload',
      times: '200 decoders',
      figure: `${mib(held)} of ArrayBuffers held (announced: ${mib(200 * MAX_PAYLOAD)})`,
      target: 'memory follows the bytes received, not the announced length',
      ok: held < 4 * MiB,
    });
    expect(held).toBeLessThan(4 * MiB);
  });

  it(`closes ${ATTACKERS} unregistered connections announcing 4 GiB frames at once`, async () => {
    const stack = await stackUnderTest();
    const pair = await healthyPair(stack);
    const lengths = [...HUGE.map(([, n]) => n), PRE_REGISTRATION_LIMIT + 1];
    let socks: FloodSocket[] = [];
    let late: FloodSocket[] = [];
    const since = Date.now();
    const r = await underAttack(
      stack,
      pair,
      async () => {
        socks = await openSockets(stack.port, ATTACKERS);
        cleanups.push(() => destroyAll(socks));
        return socks.length;
      },
      async () => {
        await inWaves(socks, WAVE, WAVE_GAP_MS, (s, i) =>
          s.write(announce(lengths[i % lengths.length] as number, REQUEST)),
        );
        // "At once": the framing error needs no deadline, so + 1 s is the whole allowance.
        late = await allClosedWithin(socks, 1000 + 500);
      },
    );
    const delays = closeDelays(socks, (s) => s.firstWriteAt);
    const overLimit = disconnectErrors(stack, since).filter((e) => /over the limit/.test(e));
    recordAttack(
      '4 GiB announcements before registration',
      `${ATTACKERS} connections each send one header announcing 4 GiB, 2 GiB, 0x7FFFFFFF or 64 KiB + 1 bytes and go silent`,
      `${ATTACKERS} connections`,
      r,
      `closed ${socks.length - late.length}/${socks.length}, close after header p99 ${percentile(delays, 99).toFixed(0)} ms, max ${Math.max(...delays).toFixed(0)} ms`,
    );
    expect(late).toHaveLength(0);
    expect(Math.max(...delays)).toBeLessThan(1000);
    expect(overLimit.length).toBe(ATTACKERS);
    checkAttack(r);
  });

  it(`closes ${REGISTERED_ATTACKERS} registered modules: over 4 MiB at once, just under 4 MiB by the frame deadline`, async () => {
    const stack = await stackUnderTest();
    const pair = await healthyPair(stack);
    let peers: RawPeer[] = [];
    // Even peers announce more than the limit (a framing error), odd ones exactly the limit or
    // one byte less and then send nothing (only the frame deadline can end it).
    const over = [...HUGE.map(([, n]) => n), MAX_PAYLOAD + 1];
    const under = [MAX_PAYLOAD, MAX_PAYLOAD - 1];
    const overTimed: Timed[] = [];
    const underTimed: Timed[] = [];
    const since = Date.now();
    const r = await underAttack(
      stack,
      pair,
      async () => {
        peers = await registeredPeers(stack, REGISTERED_ATTACKERS);
        return peers.length;
      },
      async () => {
        await inWaves(peers, WAVE, WAVE_GAP_MS, (p, i) => {
          const k = i >> 1;
          if (i % 2 === 0)
            overTimed.push(sendAndTime(p, announce(over[k % over.length] as number, REQUEST)));
          else underTimed.push(sendAndTime(p, announce(under[k % 2] as number, REQUEST)));
        });
        await Promise.race([
          Promise.all([...overTimed, ...underTimed].map((t) => t.closed)),
          sleep(FRAME_TIMEOUT_MS + 1500),
        ]);
      },
    );
    const delaysOf = (ts: Timed[]): number[] =>
      ts.flatMap((t) => (t.closedAt === undefined ? [] : [t.closedAt - t.sentAt]));
    const overDelays = delaysOf(overTimed);
    const underDelays = delaysOf(underTimed);
    const errors = disconnectErrors(stack, since);
    recordAttack(
      'announcements after registration',
      `${peers.length} registered modules each send one header and go silent: half announce 4 GiB, 2 GiB, 0x7FFFFFFF or 4 MiB + 1 bytes, half 4 MiB or 4 MiB - 1 (within the limit); frame deadline ${FRAME_TIMEOUT_MS} ms`,
      `${peers.length} modules`,
      r,
      `over the limit: closed ${overDelays.length}/${overTimed.length}, after header max ${Math.max(...overDelays).toFixed(0)} ms; ` +
        `within it: closed ${underDelays.length}/${underTimed.length}, ${Math.min(...frameDeadlineElapsed(errors))}-${Math.max(...frameDeadlineElapsed(errors))} ms after the header by the server's clock, seen by the client after ${Math.min(...underDelays).toFixed(0)}-${Math.max(...underDelays).toFixed(0)} ms`,
    );
    expect(overDelays).toHaveLength(overTimed.length);
    expect(Math.max(...overDelays)).toBeLessThan(1000);
    expect(underDelays).toHaveLength(underTimed.length);
    expect(Math.min(...underDelays)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS - 50);
    expect(Math.max(...underDelays)).toBeLessThan(FRAME_TIMEOUT_MS + 1000 + OBSERVATION_MS);
    expect(errors.filter((e) => /over the limit/.test(e))).toHaveLength(overTimed.length);
    const elapsed = frameDeadlineElapsed(errors);
    expect(elapsed).toHaveLength(underTimed.length);
    expect(Math.min(...elapsed)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS);
    expect(Math.max(...elapsed)).toBeLessThan(FRAME_TIMEOUT_MS + 1000);
    checkAttack(r);
  });

  it(`closes ${ATTACKERS} unregistered connections announcing just under 64 KiB by the frame deadline`, async () => {
    const stack = await stackUnderTest();
    const pair = await healthyPair(stack);
    const lengths = [PRE_REGISTRATION_LIMIT, PRE_REGISTRATION_LIMIT - 1];
    let socks: FloodSocket[] = [];
    let late: FloodSocket[] = [];
    const since = Date.now();
    const r = await underAttack(
      stack,
      pair,
      async () => {
        socks = await openSockets(stack.port, ATTACKERS);
        cleanups.push(() => destroyAll(socks));
        return socks.length;
      },
      async () => {
        await inWaves(socks, WAVE, WAVE_GAP_MS, (s, i) =>
          s.write(announce(lengths[i % 2] as number, REQUEST)),
        );
        late = await allClosedWithin(socks, FRAME_TIMEOUT_MS + 1000 + OBSERVATION_MS);
      },
    );
    const delays = closeDelays(socks, (s) => s.firstWriteAt);
    const byFrameDeadline = disconnectErrors(stack, since).filter((e) =>
      /frame incomplete/.test(e),
    );
    const elapsed = frameDeadlineElapsed(byFrameDeadline);
    recordAttack(
      'silent frames just under 64 KiB before registration',
      `${ATTACKERS} connections each announce 64 KiB or 64 KiB - 1 bytes (within the pre-registration limit) and send none of them; frame deadline ${FRAME_TIMEOUT_MS} ms`,
      `${ATTACKERS} connections`,
      r,
      `closed ${socks.length - late.length}/${socks.length}, ${Math.min(...elapsed)}-${Math.max(...elapsed)} ms after the header by the server's clock, seen by the client after ${Math.min(...delays).toFixed(0)}-${Math.max(...delays).toFixed(0)} ms (deadline ${FRAME_TIMEOUT_MS} ms)`,
    );
    expect(late).toHaveLength(0);
    // Closed by the frame deadline: not before it (allowing for timer granularity), and, by the
    // server's own measure, not more than 1 s after it.
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS - 50);
    expect(Math.max(...delays)).toBeLessThan(FRAME_TIMEOUT_MS + 1000 + OBSERVATION_MS);
    expect(byFrameDeadline.length).toBe(ATTACKERS);
    expect(Math.min(...elapsed)).toBeGreaterThanOrEqual(FRAME_TIMEOUT_MS);
    expect(Math.max(...elapsed)).toBeLessThan(FRAME_TIMEOUT_MS + 1000);
    checkAttack(r);
  });
});
