/**
 * The healthy side of a flood: a module pair that keeps making round trips through the server
 * while it is attacked (its latency is the figure), a sampler of the server process's stats
 * (peak RSS), and percentile helpers.
 *
 * @example
 * ```ts
 * const healthy = await HealthyPair.start(stack.address);
 * const probe = healthy.probe();
 * // ... attack ...
 * const lat = await probe.stop(); // { count, failures, p50, p99, max }
 * await healthy.close();
 * ```
 */
import { CommandMessage } from '../../../src/core/message.ts';
import { msg, openClient, type TestClient } from '../../support/bridge-client.ts';
import { RawPeer } from '../../support/raw-peer.ts';
import type { Stack, StackStats } from './stack-process.ts';

/** The `p`-th percentile (0-100) of `values` (nearest rank); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Latency summary in ms. */
export interface LatencySummary {
  count: number;
  /** Round trips that failed or took longer than the probe's own timeout. */
  failures: number;
  p50: number;
  p99: number;
  max: number;
}

/** Summarises round-trip samples (ms). */
export function summarize(samples: readonly number[], failures: number): LatencySummary {
  return {
    count: samples.length,
    failures,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    max: samples.length === 0 ? Number.NaN : Math.max(...samples),
  };
}

/** `12.3/45.6/78.9 ms (p50/p99/max)`. */
export function formatLatency(s: LatencySummary): string {
  return `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (${s.count} round trips, ${s.failures} failed)`;
}

/** A running latency probe; `stop()` ends it and summarises. */
export interface Probe {
  stop(): Promise<LatencySummary>;
}

/**
 * Two healthy modules on the server: `echo` answers every Request, `asker` sends them. A round
 * trip crosses the server twice each way, as real module-to-module traffic does.
 */
export class HealthyPair {
  private constructor(
    readonly echo: RawPeer,
    readonly asker: RawPeer,
    private readonly echoName: string,
  ) {}

  /** Connects and registers both modules (names suffixed with `tag` so several pairs can coexist). */
  static async start(address: string, tag = ''): Promise<HealthyPair> {
    const echo = await RawPeer.connect(address);
    const asker = await RawPeer.connect(address);
    try {
      await echo.registerReady(`echo${tag}`);
      echo.serve((m) => m.intoResponse(m.data));
      await asker.registerReady(`asker${tag}`);
    } catch (e) {
      await Promise.all([echo.close(), asker.close()]);
      throw e;
    }
    return new HealthyPair(echo, asker, `echo${tag}`);
  }

  /** One round trip asker -> echo -> asker; resolves with its duration in ms. */
  async roundTrip(timeoutMs = 2000): Promise<number> {
    const t0 = performance.now();
    const reply = await this.asker.call(
      CommandMessage.request(`${this.echoName}.ping`, { t: t0 }),
      timeoutMs,
    );
    if (!reply.success) throw new Error(`round trip failed: ${reply.errorMessage}`);
    return performance.now() - t0;
  }

  /**
   * Round trips one after the other, `gapMs` apart, until `stop()`: the latency a module sees
   * during whatever runs meanwhile.
   */
  probe(gapMs = 10): Probe {
    return probeLoop(() => this.roundTrip(), gapMs);
  }

  /** Runs the probe for `ms` and summarises (a baseline). */
  measure(ms: number, gapMs = 10): Promise<LatencySummary> {
    return measureFor(() => this.roundTrip(), ms, gapMs);
  }

  async close(): Promise<void> {
    await Promise.all([this.echo.close(), this.asker.close()]);
  }
}

/** A healthy browser-side module through the bridge (raw `ws` client, text form). */
export interface HealthyWs {
  readonly client: TestClient;
  /** One `system.ping` through the bridge and the server; resolves with its duration in ms. */
  roundTrip(): Promise<number>;
}

/**
 * Opens a WebSocket to the bridge at `url`, registers `name` and keeps the module alive the way
 * the SDK would: it answers Control/Initialize (or the server would drop it after its initialize
 * deadline) and Heartbeats, and sends its own Heartbeat every 3 s.
 */
export async function healthyWs(url: string, name: string): Promise<HealthyWs> {
  const client = await openClient(url);
  client.ws.on('message', (data: Buffer, isBinary: boolean) => {
    // Only Initialize and Heartbeats need an answer; a cheap look at the bytes spares parsing
    // every Broadcast a second time (the test client has parsed it already).
    if (isBinary || !(data.includes('"control_type":1') || data.includes('"message_type":9'))) {
      return;
    }
    const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    if (m.message_type === 4 && m.control_type === 1) {
      client.sendText({
        ...m,
        message_type: 2,
        control_type: undefined,
        success: true,
        data: null,
      });
    } else if (m.message_type === 9 && m.transaction_id !== 0) {
      client.sendText(m);
    }
  });
  // A module that only listens must still be heard: a one-way Heartbeat every few seconds (the
  // server closes a peer silent for 3 heartbeat intervals, 30 s by default).
  const keepAlive = setInterval(() => {
    client.sendText(msg({ message_type: 9, topic: '', transaction_id: 0 }));
  }, 3000);
  client.ws.once('close', () => clearInterval(keepAlive));
  const ack = await client.register(name);
  if (ack.success !== true) {
    await client.close();
    throw new Error(
      `registration of ${name} through the bridge refused: ${String(ack.error_message)}`,
    );
  }
  return {
    client,
    async roundTrip() {
      const t0 = performance.now();
      const r = await client.call(1, 'system.ping', null);
      if (r.success !== true) throw new Error(`ping failed: ${String(r.error_message)}`);
      return performance.now() - t0;
    },
  };
}

/**
 * Calls `roundTrip` (which resolves with a duration in ms, or rejects) one call after the other,
 * `gapMs` apart, until `stop()`.
 */
export function probeLoop(roundTrip: () => Promise<number>, gapMs = 10): Probe {
  const samples: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        samples.push(await roundTrip());
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return summarize(samples, failures);
    },
  };
}

/** Runs a probe for `ms` and summarises it (a baseline). */
export async function measureFor(
  roundTrip: () => Promise<number>,
  ms: number,
  gapMs = 10,
): Promise<LatencySummary> {
  const p = probeLoop(roundTrip, gapMs);
  await new Promise((r) => setTimeout(r, ms));
  return p.stop();
}

/** What {@link sampleStack} saw. */
export interface StackSamples {
  peakRss: number;
  samples: number;
  last: StackStats | undefined;
  /** The sample of highest RSS, and the one of most ArrayBuffer bytes. */
  atPeakRss: StackStats | undefined;
  atPeakArrayBuffers: StackStats | undefined;
}

/** Samples the stack's stats every `everyMs` (no collection) until `stop()`; keeps the peaks. */
export function sampleStack(stack: Stack, everyMs = 200): { stop(): Promise<StackSamples> } {
  const seen: StackSamples = {
    peakRss: 0,
    samples: 0,
    last: undefined,
    atPeakRss: undefined,
    atPeakArrayBuffers: undefined,
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const s = await stack.stats();
        seen.last = s;
        seen.samples++;
        if (s.rss > seen.peakRss) {
          seen.peakRss = s.rss;
          seen.atPeakRss = s;
        }
        if (s.arrayBuffers > (seen.atPeakArrayBuffers?.arrayBuffers ?? -1)) {
          seen.atPeakArrayBuffers = s;
        }
      } catch {
        // The process may be busy or gone; the test's own assertions say which.
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
