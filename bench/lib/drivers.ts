/**
 * The measuring loops every role drives (bench/roles/sdk.ts, nats.ts, mqtt.ts), written once over
 * a `roundTrip` and a `broadcast`/`sync` pair so every system is driven identically. Also the
 * payloads the peers carry: the same JSON objects as the SDK's wire messages
 * (bench/lib/role-io.ts), encoded and decoded at both ends for every request, so JSON costs
 * every system the same.
 */
import {
  BROADCAST_DATA,
  BROADCAST_TOPIC,
  ECHO_TOPIC,
  REQUEST_DATA,
  emit,
  wireJson,
} from './role-io.ts';

/** Reads a numeric command field. */
export function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** Sequential round trips: `warmup` unmeasured, then `n` measured one by one (microseconds). */
export async function sequential(
  roundTrip: () => Promise<unknown>,
  warmup: number,
  n: number,
): Promise<Record<string, number>> {
  for (let i = 0; i < warmup; i++) await roundTrip();
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await roundTrip();
    lat[i] = (performance.now() - t0) * 1000;
  }
  lat.sort();
  const at = (q: number): number => lat[Math.min(n - 1, Math.ceil(q * n) - 1)] as number;
  let sum = 0;
  for (const x of lat) sum += x;
  return { n, p50: at(0.5), p99: at(0.99), mean: sum / n };
}

/** `inflight` request loops for `ms` after `warmupMs`; round trips completed in the window. */
export async function pipelined(
  roundTrip: () => Promise<unknown>,
  inflight: number,
  warmupMs: number,
  ms: number,
): Promise<Record<string, number>> {
  let count = 0;
  let all = 0;
  let measuring = false;
  let stop = false;
  const loop = async (): Promise<void> => {
    while (!stop) {
      await roundTrip();
      all++;
      if (measuring) count++;
    }
  };
  const loops = Array.from({ length: inflight }, loop);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = performance.now() - t0;
  stop = true;
  await Promise.all(loops);
  // `all` counts the warm-up and the drain too: what the processes' CPU time was spent on.
  return { count, all, ms: elapsed, rate: (count / elapsed) * 1000 };
}

/**
 * An asker role's command handler: `seq` (sequential round trips) and `pipe` (requests in
 * flight), each answered with one JSON line.
 */
export function askerCommands(
  roundTrip: () => Promise<unknown>,
): (cmd: Record<string, unknown>) => Promise<void> {
  return async (cmd) => {
    if (cmd.cmd === 'seq') {
      emit({ seq: await sequential(roundTrip, num(cmd.warmup, 500), num(cmd.n, 5000)) });
    } else if (cmd.cmd === 'pipe') {
      const inflight = num(cmd.inflight, 64);
      emit({
        pipe: await pipelined(roundTrip, inflight, num(cmd.warmupMs, 300), num(cmd.ms, 2000)),
      });
    }
  };
}

/**
 * The fan-out publisher's loop: bursts of `broadcast()`, and after each a `sync(null)` that
 * resolves once every subscriber has counted the burst (it travels behind it); at most two
 * bursts are out. `sync('start')` / `sync('end')` mark the window; `sync` resolves with the
 * deliveries the subscribers counted since the start mark (on `end`).
 */
export function fanOutDriver(
  broadcast: () => void,
  sync: (mark: 'start' | 'end' | null) => Promise<number>,
  subscribers: number,
): (cmd: Record<string, unknown>) => Promise<Record<string, number>> {
  let allSent = 0;
  const runFor = async (ms: number, burst: number): Promise<number> => {
    const end = performance.now() + ms;
    let sent = 0;
    let prev: Promise<number> | undefined;
    while (performance.now() < end) {
      for (let i = 0; i < burst; i++) broadcast();
      sent += burst;
      allSent += burst;
      const s = sync(null);
      if (prev !== undefined) await prev;
      prev = s;
    }
    if (prev !== undefined) await prev;
    return sent;
  };
  return async (cmd) => {
    const burst = num(cmd.burst, 200);
    await runFor(num(cmd.warmupMs, 300), burst);
    await sync('start');
    const t0 = performance.now();
    const sent = await runFor(num(cmd.ms, 2000), burst);
    const delivered = await sync('end');
    const ms = performance.now() - t0;
    const all = allSent * subscribers;
    allSent = 0;
    return { sent, delivered, all, ms, rate: (delivered / ms) * 1000 };
  };
}

/**
 * The subscriber's counter: `onBroadcast` for each delivery, `onSync(mark)` answers a sync
 * (the count since the start mark on `end`, else null).
 */
export function subscriberCounter(): {
  onBroadcast: () => void;
  onSync: (mark: unknown) => number | null;
} {
  let count = 0;
  let base = 0;
  return {
    onBroadcast: () => {
      count++;
    },
    onSync: (mark) => {
      if (mark === 'start') base = count;
      return mark === 'end' ? count - base : null;
    },
  };
}

let txid = 0;

/** The JSON text of one benchmark request (a fresh transaction id and timecode each time). */
export function requestJson(): string {
  return wireJson(++txid, ECHO_TOPIC, 1, REQUEST_DATA);
}

/** The responder's work on one request: decode it, encode the answer carrying its data. */
export function answerJson(requestText: string): string {
  const req = JSON.parse(requestText) as { transaction_id: number; topic: string; data: unknown };
  return wireJson(req.transaction_id, req.topic, 2, req.data, true);
}

let seq = 0;

/** The JSON text of one benchmark broadcast, numbered as the SDK publisher numbers its own. */
export function broadcastJson(): string {
  return wireJson(0, BROADCAST_TOPIC, 3, { ...BROADCAST_DATA, seq: seq++ }, true);
}

/** The JSON text of a sync request carrying `mark`. */
export function syncJson(mark: 'start' | 'end' | null): string {
  return wireJson(++txid, 'sync', 1, mark);
}

/** The subscriber's work on a sync request: decode it, count, encode the answer. */
export function answerSyncJson(request: string, onSync: (mark: unknown) => number | null): string {
  const req = JSON.parse(request) as { transaction_id: number; data: unknown };
  return wireJson(req.transaction_id, 'sync', 2, onSync(req.data), true);
}

/** Decodes a sync answer and returns its count (0 for null). */
export function syncCount(text: string): number {
  const d = (JSON.parse(text) as { data: unknown }).data;
  return typeof d === 'number' ? d : 0;
}
