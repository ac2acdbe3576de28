/**
 * Item 5 of the reliability issue: a silent network partition. The server and a module run in
 * two network namespaces joined by a veth pair (made by the test); with requests of the module
 * waiting in flight, iptables DROPs every packet on the link in both namespaces, so neither side
 * gets a FIN or an RST: only heartbeats can find the partition (PROTOCOL.md section 4). Both
 * sides must drop the connection within 3 heartbeat intervals, and the module must reject its
 * waiting requests at once (within detection + 100 ms).
 *
 * Needs root, iproute2 and iptables (CI has them); skipped with the reason otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { byMode, recordFigure } from './support/figures.ts';
import { createNetnsPair, netnsUnavailable, type NetnsPair } from './support/netns-pair.ts';
import { readLines } from './support/json-lines.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MAIN = resolve(ROOT, 'test/reliability/support/netns-peer-main.ts');
const HEARTBEAT_MS = 300;
const HELD = 5;
const ROUNDS = byMode(2, 10);

const skipReason = await netnsUnavailable();
if (skipReason) console.log(`[reliability 5] silent partition skipped: ${skipReason}`);

const pairs = new Set<NetnsPair>();
afterAll(async () => {
  for (const p of pairs) await p.dispose();
});

type Line = Record<string, unknown> & { at: number };

/** A child's JSON lines, with a bounded wait for the next one that matches. */
class Peer {
  readonly lines: Line[] = [];
  private readonly waiters = new Set<() => void>();
  constructor(readonly child: ChildProcess) {
    readLines<Line>(child.stdout, (line) => {
      this.lines.push(line);
      for (const w of [...this.waiters]) w();
    });
    child.once('exit', () => {
      for (const w of [...this.waiters]) w();
    });
  }

  /** Resolves with the first line (past or future) matching `want`; rejects after `ms`. */
  wait(want: (l: Line) => boolean, ms: number, what: string): Promise<Line> {
    return new Promise((res, rej) => {
      const check = (): void => {
        const hit = this.lines.find(want);
        if (hit) {
          finish();
          res(hit);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish();
          rej(
            new Error(
              `peer exited (${this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}`,
            ),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        rej(new Error(`no ${what} within ${ms} ms`));
      }, ms);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  send(cmd: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }
}

const epochNow = (): number => performance.timeOrigin + performance.now();

interface Round {
  serverDetectMs: number;
  moduleDetectMs: number;
  rejectLatencyMs: number;
  /** How long installing the DROP rules took (detection is counted from before it began). */
  cutTookMs: number;
  rejected: number;
  codes: string[];
  /** Why each side closed, as it reported it. */
  reasons: string[];
}

async function partitionOnce(): Promise<Round> {
  const pair = await createNetnsPair();
  pairs.add(pair);
  try {
    const node = [process.execPath, '--conditions=source', '--import', 'tsx', MAIN];
    const server = new Peer(
      pair.spawn(
        'a',
        [
          ...node,
          JSON.stringify({ role: 'server', address: pair.address.a, heartbeatMs: HEARTBEAT_MS }),
        ],
        ROOT,
      ),
    );
    const ready = await server.wait((l) => l.ready === true, 30_000, 'server ready');
    const module = new Peer(
      pair.spawn(
        'b',
        [
          ...node,
          JSON.stringify({
            role: 'module',
            address: `${pair.address.a}:${String(ready.port)}`,
            heartbeatMs: HEARTBEAT_MS,
          }),
        ],
        ROOT,
      ),
    );
    const up = await module.wait((l) => l.ready === true, 30_000, 'module registered');
    expect(up.heartbeatMs, 'the server gave its heartbeat interval').toBe(HEARTBEAT_MS);

    // Requests the holding module will not answer: they wait in flight at the module.
    module.send({ cmd: 'hold', n: HELD });
    const sent = await module.wait((l) => l.sent === HELD, 5000, 'requests sent');
    expect(sent.inflight).toBe(HELD);
    // A few heartbeat intervals of a quiet but live link: nothing may be dropped before the cut.
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS));
    module.send({ cmd: 'ping' });
    await module.wait((l) => l.pong === true, 2000, 'a round trip before the cut');
    expect(server.lines.some((l) => l.event === 'disconnected' && l.name === 'edge')).toBe(false);

    const cutAt = epochNow();
    await pair.cut();
    const cutTookMs = epochNow() - cutAt;
    const bound = 3 * HEARTBEAT_MS + 3000;
    const serverSaw = await server.wait(
      (l) => l.event === 'disconnected' && l.name === 'edge',
      bound,
      'server-side detection',
    );
    const moduleSaw = await module.wait(
      (l) => l.event === 'disconnected',
      bound,
      'module-side detection',
    );
    const rejections: Line[] = [];
    for (let i = 0; i < HELD; i++)
      rejections.push(
        await module.wait(
          (l) => l.settled !== undefined && l.i === i,
          2000,
          `request ${i} settled`,
        ),
      );
    return {
      serverDetectMs: serverSaw.at - cutAt,
      moduleDetectMs: moduleSaw.at - cutAt,
      rejectLatencyMs: Math.max(...rejections.map((l) => l.at)) - moduleSaw.at,
      cutTookMs,
      rejected: rejections.filter((l) => l.settled === 'rejected').length,
      codes: rejections.map((l) => String(l.code ?? l.settled)),
      reasons: [String(serverSaw.error), String(moduleSaw.error)],
    };
  } finally {
    await pair.dispose();
    pairs.delete(pair);
  }
}

describe('a silent network partition between server and module', () => {
  it.skipIf(skipReason !== undefined)(
    'is detected by both sides within 3 heartbeat intervals, and waiting requests are rejected at once',
    async () => {
      const rounds: Round[] = [];
      for (let i = 0; i < ROUNDS; i++) rounds.push(await partitionOnce());

      const worst = (f: (r: Round) => number): number => Math.max(...rounds.map(f));
      const serverWorst = worst((r) => r.serverDetectMs);
      const moduleWorst = worst((r) => r.moduleDetectMs);
      const rejectWorst = worst((r) => r.rejectLatencyMs);
      // Silence is checked every quarter interval (message-connection.ts), so a side that heard
      // its peer just before the cut may notice up to a quarter interval past the third.
      const detectBound = 3 * HEARTBEAT_MS + HEARTBEAT_MS / 4;
      const fmt = (xs: number[]): string => xs.map((x) => `${Math.round(x)}`).join('/');
      recordFigure({
        item: 5,
        name: 'silent partition',
        tried: `server and module in two network namespaces, link cut with iptables DROP both ways (no FIN/RST), heartbeat ${HEARTBEAT_MS} ms, ${HELD} requests waiting at the module`,
        times: `${rounds.length} partitions`,
        figure: `counted from the start of the cut (installing the rules took ${fmt(rounds.map((r) => r.cutTookMs))} ms): server detected after ${fmt(rounds.map((r) => r.serverDetectMs))} ms, module after ${fmt(rounds.map((r) => r.moduleDetectMs))} ms (worst ${(Math.max(serverWorst, moduleWorst) / HEARTBEAT_MS).toFixed(2)} intervals); waiting requests rejected ${fmt(rounds.map((r) => r.rejectLatencyMs))} ms after the module's detection (${rounds.map((r) => r.codes.join(',')).join(' | ')})`,
        target: `both sides within 3 heartbeat intervals (${3 * HEARTBEAT_MS} ms, checked every ${HEARTBEAT_MS / 4} ms); requests rejected within detection + 100 ms`,
        ok: serverWorst <= detectBound && moduleWorst <= detectBound && rejectWorst <= 100,
      });

      for (const r of rounds) {
        expect(r.rejected, 'every waiting request rejected').toBe(HELD);
        for (const code of r.codes) expect(code).toBe('ERR_CONNECTION');
        // Both closed because the peer went silent (the heartbeat check), not on a socket event.
        for (const reason of r.reasons) expect(reason).toMatch(/silent for \d+ ms/);
        // Not before 2 intervals: a detection that early would not be the heartbeat's doing.
        expect(r.serverDetectMs).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS - 50);
        expect(r.moduleDetectMs).toBeGreaterThanOrEqual(2 * HEARTBEAT_MS - 50);
      }
      // Detection and rejection times are latencies: on a saturated shared 2-core machine timers
      // fire hundreds of ms late. The figure above holds the exact bounds; the test fails only
      // at twice the detection bound (a side that never notices fails it for sure, since the
      // waits above are bounded) and at 5x the rejection bound.
      expect(serverWorst).toBeLessThanOrEqual(2 * 3 * HEARTBEAT_MS);
      expect(moduleWorst).toBeLessThanOrEqual(2 * 3 * HEARTBEAT_MS);
      expect(rejectWorst).toBeLessThanOrEqual(500);
    },
    // Each round takes about 10 s (processes starting in the namespaces, the cut, detection).
    ROUNDS * 20_000 + 60_000,
  );
});
