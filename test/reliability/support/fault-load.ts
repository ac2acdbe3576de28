/**
 * Request load for the fault tests (kill/restart, fault proxy): modules that answer
 * `<name>.echo` with the request's unique id, workers that keep requests in flight, and a ledger
 * that records how every single request settled, so a test can prove that each one settled
 * exactly once, in time, with the right answer.
 */
import { createHook } from 'node:async_hooks';
import { IpcError } from '../../../src/core/errors.ts';
import type { CommandMessage } from '../../../src/core/message.ts';
import type { ModuleHandler } from '../../../src/core/module-handler.ts';
import type { IpcClient } from '../../../src/client/ipc-client.ts';

/**
 * A module handler that answers `<domain>.echo` with `{ uid, by }` (the request's own unique id),
 * so a wrong or duplicated answer is visible, and counts how often it served each uid.
 */
export class EchoHandler implements ModuleHandler {
  /** Times each uid was served; more than 1 would mean the request was delivered twice. */
  readonly served = new Map<string, number>();
  constructor(
    readonly domain: string,
    /** Random delay before answering, in ms (keeps requests in flight when faults hit). */
    private readonly maxDelayMs = 0,
    private readonly random: () => number = Math.random,
  ) {}

  async handleMessage(msg: CommandMessage): Promise<CommandMessage> {
    const data = msg.data as { uid?: unknown } | null;
    const uid = typeof data?.uid === 'string' ? data.uid : '';
    this.served.set(uid, (this.served.get(uid) ?? 0) + 1);
    if (this.maxDelayMs > 0) {
      await new Promise((r) => setTimeout(r, Math.floor(this.random() * this.maxDelayMs)));
    }
    return msg.intoResponse({ uid, by: this.domain });
  }
}

interface Entry {
  asker: string;
  target: string;
  start: number;
  settles: number;
  settledAt: number;
  outcome: string;
  wrongAnswer: string | undefined;
}

/** Summary of a {@link RequestLedger}. */
export interface LedgerSummary {
  total: number;
  resolved: number;
  /** Rejections per IpcError code. */
  rejected: Record<string, number>;
  /** Requests that have not settled (must be 0 once the test waited long enough). */
  unsettled: number;
  /** Requests whose promise callbacks ran more than once (impossible for a promise; kept as a guard). */
  multiSettled: number;
  /** Resolved with an answer that was not theirs. */
  wrongAnswers: string[];
  /** Longest time from call to settlement, in ms. */
  maxSettleMs: number;
  /** Requests that took longer than the bound given to summary(). */
  late: number;
}

/** Records every request by its unique id: when it was made, how and when it settled. */
export class RequestLedger {
  readonly entries = new Map<string, Entry>();
  private seq = 0;
  private readonly open = new Set<Promise<unknown>>();

  /** `prefix` keeps the uids of two ledgers of one test apart. */
  constructor(private readonly prefix = '') {}

  /** A fresh unique request id. */
  uid(asker: string): string {
    return `${this.prefix}${asker}-${++this.seq}`;
  }

  /** Sends `<target>.echo` with a fresh uid from `client` and records how it settles. */
  echo(client: IpcClient, target: string): Promise<CommandMessage | Error> {
    const uid = this.uid(client.name);
    const entry: Entry = {
      asker: client.name,
      target,
      start: performance.now(),
      settles: 0,
      settledAt: 0,
      outcome: 'pending',
      wrongAnswer: undefined,
    };
    this.entries.set(uid, entry);
    const topic = target === 'system' ? 'system.ping' : `${target}.echo`;
    const p = client.request(topic, { uid }).then(
      (reply) => {
        entry.settles++;
        entry.settledAt = performance.now();
        entry.outcome = 'resolved';
        if (target !== 'system') {
          const data = reply.data as { uid?: unknown; by?: unknown } | null;
          if (data?.uid !== uid || data.by !== target) entry.wrongAnswer = JSON.stringify(reply.data);
        }
        return reply;
      },
      (e: unknown) => {
        entry.settles++;
        entry.settledAt = performance.now();
        // ERR_REMOTE is split by the server's reason ("Module disconnected", "Timeout", ...).
        entry.outcome =
          e instanceof IpcError
            ? e.code === 'ERR_REMOTE'
              ? `ERR_REMOTE (${e.message.split(':')[0] ?? ''})`
              : e.code
            : `non-IpcError: ${String(e)}`;
        return e instanceof Error ? e : new Error(String(e));
      },
    );
    this.open.add(p);
    void p.finally(() => this.open.delete(p));
    return p;
  }

  /** Waits until every recorded request settled, or `ms` passed. */
  async settled(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (this.open.size > 0 && performance.now() < deadline) {
      await Promise.race([Promise.all([...this.open]), new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /** Counts; `boundMs` is the settle-time bound a request is held to. */
  summary(boundMs: number): LedgerSummary {
    const s: LedgerSummary = {
      total: 0,
      resolved: 0,
      rejected: {},
      unsettled: 0,
      multiSettled: 0,
      wrongAnswers: [],
      maxSettleMs: 0,
      late: 0,
    };
    for (const [uid, e] of this.entries) {
      s.total++;
      if (e.settles === 0) {
        s.unsettled++;
        continue;
      }
      if (e.settles > 1) s.multiSettled++;
      const took = e.settledAt - e.start;
      s.maxSettleMs = Math.max(s.maxSettleMs, took);
      if (took > boundMs) s.late++;
      if (e.outcome === 'resolved') s.resolved++;
      else s.rejected[e.outcome] = (s.rejected[e.outcome] ?? 0) + 1;
      if (e.wrongAnswer !== undefined) s.wrongAnswers.push(`${uid}: ${e.wrongAnswer}`);
    }
    return s;
  }
}

/** `resolved 812, ERR_CONNECTION 40, ERR_TIMEOUT 2` */
export function formatOutcomes(s: LedgerSummary): string {
  const parts = [`resolved ${s.resolved}`];
  for (const [code, n] of Object.entries(s.rejected).sort((a, b) => b[1] - a[1])) parts.push(`${code} ${n}`);
  return parts.join(', ');
}

/**
 * Longest stretch without a successful round trip, per module. Two measures: the raw one, and
 * the one that only counts time while a server was there to answer (`down()`/`up()` mark the
 * server's outages): a module cannot be faulted for a server that is not running.
 */
export class RoundTripGaps {
  private readonly last = new Map<string, number>();
  private readonly worst = new Map<string, number>();
  private readonly worstRaw = new Map<string, number>();
  private readonly outages: [number, number][] = [];
  private downSince: number | undefined;
  /** When the server last came up, and the modules that have had a round trip since. */
  private upAt: number | undefined;
  private readonly recovered = new Set<string>();
  private slowestComeback = 0;
  /** Up-windows that ended (server killed again) before some module got a round trip. */
  missedWindows = 0;

  /** Starts the clock of a module (call when measuring begins). */
  start(name: string, at = performance.now()): void {
    this.last.set(name, at);
    this.worst.set(name, this.worst.get(name) ?? 0);
    this.worstRaw.set(name, this.worstRaw.get(name) ?? 0);
  }

  /** The server went away (killed). */
  down(at = performance.now()): void {
    if (this.downSince !== undefined) return;
    this.downSince = at;
    if (this.upAt !== undefined && this.recovered.size < this.last.size) this.missedWindows++;
    this.upAt = undefined;
  }

  /** The server listens again. */
  up(at = performance.now()): void {
    if (this.downSince === undefined) return;
    this.outages.push([this.downSince, at]);
    this.downSince = undefined;
    this.upAt = at;
    this.recovered.clear();
  }

  /** A successful round trip of `name`. */
  ok(name: string, at = performance.now()): void {
    const prev = this.last.get(name);
    if (prev !== undefined) {
      let outage = 0;
      for (const [a, b] of this.outages) outage += Math.max(0, Math.min(b, at) - Math.max(a, prev));
      if (this.downSince !== undefined) outage += Math.max(0, at - Math.max(this.downSince, prev));
      this.worstRaw.set(name, Math.max(this.worstRaw.get(name) ?? 0, at - prev));
      this.worst.set(name, Math.max(this.worst.get(name) ?? 0, at - prev - outage));
    }
    this.last.set(name, at);
    if (this.upAt !== undefined && !this.recovered.has(name)) {
      this.recovered.add(name);
      this.slowestComeback = Math.max(this.slowestComeback, at - this.upAt);
    }
  }

  /** Longest time from a restart (server listening) to a module's first round trip after it. */
  get slowestComebackMs(): number {
    return this.slowestComeback;
  }

  /** Closes every module's window at `at` (the gap still open counts too). */
  finish(at = performance.now()): void {
    // Not a round trip: only the open gaps are closed, comebacks are left as they are.
    const upAt = this.upAt;
    this.upAt = undefined;
    for (const name of this.last.keys()) this.ok(name, at);
    this.upAt = upAt;
  }

  /** Longest time without a round trip while the server was up. */
  get maxGapMs(): number {
    return Math.max(0, ...this.worst.values());
  }

  /** Longest time without a round trip, outages included. */
  get maxRawGapMs(): number {
    return Math.max(0, ...this.worstRaw.values());
  }

  /** Longest server outage. */
  get maxOutageMs(): number {
    return Math.max(0, ...this.outages.map(([a, b]) => b - a));
  }

  byModule(): Record<string, number> {
    return Object.fromEntries([...this.worst].map(([k, v]) => [k, Math.round(v)]));
  }
}

export interface LoadOptions {
  ledger: RequestLedger;
  /** Targets to pick from at random: module names, or `system` for `system.ping`. */
  targets: string[];
  /** Requests each client keeps in flight. */
  concurrency: number;
  random: () => number;
  /** Called on every successful round trip. */
  gaps?: RoundTripGaps;
}

/**
 * Keeps `concurrency` requests in flight from every client until `stop` aborts; returns when all
 * workers ended. A worker that got a fast failure (not connected) pauses briefly so the loop
 * does not spin.
 */
export async function runLoad(clients: IpcClient[], stop: AbortSignal, o: LoadOptions): Promise<void> {
  const workers: Promise<void>[] = [];
  for (const client of clients) {
    const others = o.targets.filter((t) => t !== client.name);
    for (let w = 0; w < o.concurrency; w++) {
      workers.push(
        (async () => {
          while (!stop.aborted) {
            const target = others[Math.floor(o.random() * others.length)] ?? 'system';
            const out = await o.ledger.echo(client, target);
            if (!(out instanceof Error)) o.gaps?.ok(client.name);
            // Yield to the event loop either way; back off a little on a fast failure.
            await new Promise((r) => setTimeout(r, out instanceof Error ? 20 + o.random() * 20 : 0));
          }
        })(),
      );
    }
  }
  await Promise.all(workers);
}

/** Live `Timeout` handles that keep the process alive (`process.getActiveResourcesInfo()`). */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

/**
 * Live `Timeout` handles created by the SDK's own code (`src/`), unref'd ones included: request
 * deadlines are unref'd, so `getActiveResourcesInfo()` does not see them, and timers of the test
 * harness (a child's readiness timeout, a test's own delays) must not count. A leaked deadline
 * or heartbeat timer of a client shows up here.
 */
export class TimerCensus {
  private readonly live = new Set<number>();
  private readonly hook = createHook({
    init: (id, type) => {
      if (type !== 'Timeout') return;
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 16;
      const stack = new Error().stack ?? '';
      Error.stackTraceLimit = limit;
      if (SDK_FRAME.test(stack)) this.live.add(id);
    },
    destroy: (id) => {
      this.live.delete(id);
    },
  });

  constructor() {
    this.hook.enable();
  }

  get count(): number {
    return this.live.size;
  }

  dispose(): void {
    this.hook.disable();
  }
}

/** A stack frame in the SDK's sources. */
const SDK_FRAME = /[/\\]src[/\\](client|core|server|transports|message-connection)/;

/** Waits until `check()` is true or `ms` passed; returns whether it became true. */
export async function waitUntil(check: () => boolean, ms: number, stepMs = 20): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return true;
}
