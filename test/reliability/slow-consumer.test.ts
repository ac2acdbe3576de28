/**
 * Reliability item 7: slow consumers.
 *
 * A module subscribes to a high-rate topic and stops reading: one raw socket that never reads a
 * byte, one that reads for a while and then pauses. The server must close each as a slow consumer
 * (its queue over `maxQueuedBytes`, or nothing taken for `drainTimeoutMs`), its RSS must stay
 * bounded by that outbound limit, and ten healthy subscribers must keep their rate: the same
 * publisher and subscribers are first measured without the slow ones (the baseline), then with
 * them.
 *
 * The bridge's side: a WebSocket client that stops reading while Broadcasts flow gets them
 * coalesced to the newest per topic, then is closed 1013; the other clients keep their rate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RawPeer } from '../support/raw-peer.ts';
import { byMode, recordFigure } from './support/figures.ts';
import { healthyWs, mib, sampleStack, sleep, type HealthyWs } from './support/flood-probe.ts';
import { CountingSubscriber, neverReadingSubscriber, publish } from './support/flood-subscriber.ts';
import { startStack, type Stack } from './support/stack-process.ts';

const MiB = 1024 * 1024;
/** Shortened drain deadline (default 10 s). */
const DRAIN_TIMEOUT_MS = 1500;
/** The server's outbound limit per connection (the default, stated here to bound RSS with it). */
const MAX_QUEUED_BYTES = 8 * MiB;
const HEALTHY = 10;
/** Length of each measured phase (baseline, then with the slow consumers). */
const PHASE_MS = byMode(3000, 20_000);
/** Publisher pace: 4 Broadcasts of 4 KiB per 4 ms tick (at most 1000/s, 4 MB/s to each subscriber). */
const PACE = { perTick: 4, tickMs: 4, payloadBytes: 4096 };
const TOPICS = Array.from({ length: 8 }, (_, i) => `pub.data.t${i}`);
/** Allowance over the outbound limits for everything else a busy server holds (GC headroom). */
const RSS_SLACK = 16 * MiB;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function track<T>(value: T, dispose: (v: T) => Promise<void> | void): T {
  cleanups.push(() => dispose(value));
  return value;
}

/** Per-subscriber rates over a window, and the publisher's own rate in it (messages/s). */
interface Rates {
  subscribers: number[];
  published: number;
}

async function rates(counts: () => number[], sent: () => number, ms: number): Promise<Rates> {
  const before = counts();
  const sentBefore = sent();
  const t0 = performance.now();
  await sleep(ms);
  const secs = (performance.now() - t0) / 1000;
  return {
    subscribers: counts().map((c, i) => (c - (before[i] as number)) / secs),
    published: (sent() - sentBefore) / secs,
  };
}

/**
 * The worst healthy subscriber's rate with the slow consumers, as a share of its baseline rate,
 * each taken relative to what the publisher sent in that phase: the publisher lives in this test
 * process, whose timers run late by different amounts from one phase to the next on a loaded
 * machine, and that is not the server's doing.
 */
function worstRatio(during: Rates, baseline: Rates): number {
  return Math.min(
    ...during.subscribers.map(
      (r, i) => r / during.published / ((baseline.subscribers[i] as number) / baseline.published),
    ),
  );
}

function fmtRates(rs: Rates): string {
  const s = rs.subscribers;
  return `${Math.min(...s).toFixed(0)}-${Math.max(...s).toFixed(0)} msg/s (published ${rs.published.toFixed(0)}/s)`;
}

/**
 * Loose sanity bound on the healthy subscribers' rate while the slow ones are stuck. The issue's
 * target (>= 90% of baseline) is the figure's verdict, not an assertion: on a shared 2-core
 * machine rates move with load.
 */
const RATE_SANITY = 0.3;

describe('reliability 7: slow consumers', () => {
  it('closes a never-reading and a paused subscriber within the drain deadline; 10 healthy subscribers keep their rate', async () => {
    const stack = track(
      await startStack({
        server: {
          drainTimeoutMs: DRAIN_TIMEOUT_MS,
          maxQueuedBytes: MAX_QUEUED_BYTES,
          // The never-reading module never answers Initialize: only the slow-consumer rule may
          // close it here.
          initializeTimeoutMs: 120_000,
          heartbeatMs: 60_000,
        },
        events: ['slowConsumer', 'disconnected'],
      }),
      (s) => s.stop(),
    );
    const pub = track(await RawPeer.connect(stack.address), (p) => p.close());
    await pub.registerReady('pub');
    const subs: CountingSubscriber[] = [];
    track(subs, (ss) => ss.forEach((s) => s.close()));
    for (let i = 0; i < HEALTHY; i++)
      subs.push(await CountingSubscriber.connect(stack.port, `sub${i}`, 'pub.data.>'));
    const paused = track(
      await CountingSubscriber.connect(stack.port, 'paused', 'pub.data.>'),
      (s) => s.close(),
    );
    const counts = (): number[] => subs.map((s) => s.count);

    const publisher = publish(pub, { topics: TOPICS, ...PACE });
    track(publisher, (p) => p.stop());
    // Warm up, then the baseline: the same publisher and subscribers, nobody slow (the paused
    // one still reads here).
    await sleep(1000);
    const baseline = await rates(counts, () => publisher.sent, PHASE_MS);
    const rssBase = (await stack.stats({ gc: true })).rss;

    // Two slow consumers join: one that never reads at all, and the paused one.
    const sampler = sampleStack(stack, 100);
    track(await neverReadingSubscriber(stack.port, 'stuck', 'pub.data.>'), (s) => {
      s.destroy();
    });
    const stuckFrom = Date.now();
    paused.pause();
    const pausedFrom = Date.now();
    const during = await rates(counts, () => publisher.sent, PHASE_MS);
    // Both must be closed by now or soon: kernel buffers first fill (a few MB), then the
    // server's own queue, then the drain deadline (or the queue limit) ends them.
    await expect
      .poll(() => stack.events.filter((e) => e.event === 'slowConsumer').length, {
        timeout: 15_000,
      })
      .toBe(2);
    const { peakRss } = await sampler.stop();
    await publisher.stop();

    const slowEvents = stack.events.filter((e) => e.event === 'slowConsumer');
    const closedAt = (name: string): number =>
      slowEvents.find((e) => (e.detail as { name?: string }).name === name)?.at ?? Number.NaN;
    const stuckMs = closedAt('stuck') - stuckFrom;
    const pausedMs = closedAt('paused') - pausedFrom;
    const why = stack.events
      .filter(
        (e) =>
          e.event === 'disconnected' &&
          ['stuck', 'paused'].includes(String((e.detail as { name?: string }).name)),
      )
      .map(
        (e) =>
          `${String((e.detail as { name?: string }).name)}: ${String((e.detail as { error?: string }).error).replace(/^.*closed: /, '')}`,
      );
    const ratio = worstRatio(during, baseline);
    const rssGrowth = peakRss - rssBase;
    const rssBound = 2 * MAX_QUEUED_BYTES + RSS_SLACK;

    recordFigure({
      item: 7,
      name: 'slow TCP subscribers: closed',
      tried: `a subscriber that never reads and one that pauses, on a topic published at ${(1000 / PACE.tickMs) * PACE.perTick}/s x ${PACE.payloadBytes / 1024} KiB (drain deadline ${DRAIN_TIMEOUT_MS} ms, outbound limit ${mib(MAX_QUEUED_BYTES)})`,
      times: '2 slow consumers',
      figure: `closed ${stuckMs.toFixed(0)} ms (never read) and ${pausedMs.toFixed(0)} ms (paused) after they stopped reading, kernel buffers filling first; ${why.join('; ')}`,
      target: 'closed as slow consumers within the drain deadline once the server queues',
      ok: Number.isFinite(stuckMs) && Number.isFinite(pausedMs),
    });
    recordFigure({
      item: 7,
      name: 'slow TCP subscribers: server RSS',
      tried:
        'server RSS peak while the two slow consumers were stuck, over the baseline with the same traffic',
      times: `${PHASE_MS / 1000} s`,
      figure: `RSS grew ${mib(rssGrowth)} (bound: 2 x ${mib(MAX_QUEUED_BYTES)} outbound limit + ${mib(RSS_SLACK)})`,
      target: 'growth bounded by the outbound limit',
      ok: rssGrowth < rssBound,
    });
    recordFigure({
      item: 7,
      name: 'slow TCP subscribers: healthy rate',
      tried: `${HEALTHY} healthy subscribers on the same topic, with and without the slow ones`,
      times: `${HEALTHY} subscribers x 2 phases of ${PHASE_MS / 1000} s`,
      figure: `baseline ${fmtRates(baseline)}, with slow consumers ${fmtRates(during)}; worst subscriber at ${(100 * ratio).toFixed(1)}% of its baseline`,
      target: '>= 90% of baseline rate',
      ok: ratio >= 0.9,
    });

    expect(Number.isFinite(stuckMs)).toBe(true);
    expect(Number.isFinite(pausedMs)).toBe(true);
    // The server says why: its queue went over the limit, or the drain deadline passed.
    expect(why).toHaveLength(2);
    for (const w of why) {
      expect(w).toMatch(
        new RegExp(`nothing taken for ${DRAIN_TIMEOUT_MS} ms|queue over the limit`),
      );
    }
    // The healthy ones were never closed.
    expect(subs.every((s) => s.closedAt === undefined)).toBe(true);
    expect(rssGrowth).toBeLessThan(rssBound);
    expect(ratio).toBeGreaterThan(RATE_SANITY);
  });

  it('coalesces Broadcasts to a WebSocket client that stops reading, then closes it 1013; the other clients keep their rate', async () => {
    const SLOW_CONSUMER_MS = 1500;
    const WS_HEALTHY = 5;
    const stack: Stack = track(
      await startStack({ bridge: { limits: { slowConsumerMs: SLOW_CONSUMER_MS } } }),
      (s) => s.stop(),
    );
    const pub = track(await RawPeer.connect(stack.address), (p) => p.close());
    await pub.registerReady('pub');
    const clients: HealthyWs[] = [];
    track(clients, async (cs) => {
      await Promise.all(cs.map((c) => c.client.close()));
    });
    const subscribed = async (name: string): Promise<HealthyWs> => {
      const c = await healthyWs(stack.bridgeUrl as string, name);
      clients.push(c);
      const ok = await c.client.call(7, 'pub.data.>');
      expect(ok.success).toBe(true);
      return c;
    };
    const healthy: HealthyWs[] = [];
    for (let i = 0; i < WS_HEALTHY; i++) healthy.push(await subscribed(`hmi_${i}`));
    // Count Broadcasts without keeping them (the test client keeps every message otherwise).
    const seen = new Map<HealthyWs, number>();
    for (const c of healthy) {
      seen.set(c, 0);
      c.client.ws.on('message', () => seen.set(c, (seen.get(c) ?? 0) + 1));
    }
    const counts = (): number[] => healthy.map((c) => seen.get(c) ?? 0);
    const trim = setInterval(() => clients.forEach((c) => c.client.messages.splice(0)), 200);
    track(trim, clearInterval);

    // Browsers get less than TCP modules: 500 Broadcasts/s of 2 KiB (1 MB/s), which six clients
    // take in comfortably (so the baseline is the pace, not the machine's limit) and which fills
    // the kernel's socket buffers towards the paused client within a few seconds.
    const publisher = publish(pub, { topics: TOPICS, perTick: 2, tickMs: 4, payloadBytes: 2048 });
    track(publisher, (p) => p.stop());
    await sleep(1000);
    const baseline = await rates(counts, () => publisher.sent, PHASE_MS);

    // The slow client joins and stops reading as soon as it has subscribed. Joining fresh, not
    // pausing a client that has been reading at full rate: Linux grows a busy socket's receive
    // buffer (here up to 32 MiB), which would take the better part of a minute to fill before
    // the bridge saw any backlog, and the server's heartbeat deadline would end it first.
    const slow = await subscribed('hmi_slow');
    (slow.client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const pausedAt = Date.now();
    // Watch for the 1013 while the phase runs, to time it.
    let closedMs = Number.NaN;
    const closes1013 = async (): Promise<number> =>
      ((await stack.stats()).bridge as { closes: Record<string, number> }).closes['1013'] ?? 0;
    const watch = (async () => {
      while (Number.isNaN(closedMs) && Date.now() - pausedAt < PHASE_MS + 25_000) {
        if ((await closes1013()) > 0) closedMs = Date.now() - pausedAt;
        else await sleep(100);
      }
    })();
    const during = await rates(counts, () => publisher.sent, PHASE_MS);
    await watch;
    expect(await closes1013()).toBe(1);
    const metrics = (await stack.stats()).bridge as {
      coalesced: number;
      closes: Record<string, number>;
    };
    await publisher.stop();
    const ratio = worstRatio(during, baseline);

    recordFigure({
      item: 7,
      name: 'slow WebSocket client',
      tried: `a WebSocket client that stops reading while Broadcasts flow (500/s x 2 KiB over ${TOPICS.length} topics; slowConsumerMs ${SLOW_CONSUMER_MS})`,
      times: `1 slow + ${WS_HEALTHY} healthy clients, 2 phases of ${PHASE_MS / 1000} s`,
      figure: `${metrics.coalesced} Broadcasts coalesced, closes by code ${JSON.stringify(metrics.closes)}, closed 1013 ${(closedMs / 1000).toFixed(1)} s after it stopped reading (kernel buffers filling first); healthy baseline ${fmtRates(baseline)}, during ${fmtRates(during)}, worst at ${(100 * ratio).toFixed(1)}%`,
      target: 'coalesce, then close 1013; others keep >= 90% of their rate',
      ok: metrics.coalesced > 0 && metrics.closes['1013'] === 1 && ratio >= 0.9,
    });

    expect(metrics.coalesced).toBeGreaterThan(0);
    expect(metrics.closes['1013']).toBe(1);
    // Only the slow one was closed.
    expect(Object.values(metrics.closes).reduce((a, b) => a + b, 0)).toBe(1);
    expect(ratio).toBeGreaterThan(RATE_SANITY);
  });
});
