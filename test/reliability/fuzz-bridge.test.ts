/**
 * Reliability item 1, bridge target: the real bridge over real WebSockets, in text and binary
 * form, before and after registration, fed the regression table, every type byte and random
 * messages. Each outcome is held to PROTOCOL.md section 7 (close 1003/1007/1008/1009, a failed
 * Response, or a relay) through support/fuzz-bridge-model.ts, and a recording upstream proves
 * that nothing of a bad message is ever relayed: every frame it gets is judged by the oracle.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge, type Bridge } from '../../bridge/index.ts';
import { REGRESSION_ROWS } from './regressions/fuzz-cases.ts';
import { byMode, recordFigure } from './support/figures.ts';
import { caseRow, frameBytes, frameCaseArb, rowToCase, textCaseArb } from './support/fuzz-cases.ts';
import {
  bridgeStep,
  type BridgeLimitsModel,
  type BrowserModel,
} from './support/fuzz-bridge-model.ts';
import { diffMessage } from './support/fuzz-judge.ts';
import { FUZZ_SEED, fuzz, prototypeSnapshot } from './support/fuzz-run.ts';
import {
  startFuzzUpstream,
  type FuzzUpstream,
  type UpstreamConn,
} from './support/fuzz-upstream.ts';

const TOKEN = 'fuzz-token-0123456789abcdef';
const LIMITS: BridgeLimitsModel = { maxMessageBytes: 8192, maxPreRegistrationBytes: 2048 };

type Form = 'text' | 'binary';
type State = 'fresh' | 'registered';

interface Wire {
  transaction_id: number;
  message_type: number;
  control_type?: number;
  success: boolean;
  error_message: string;
  topic: string;
}

/** A raw browser: sends exactly the bytes given, in the form given, and parses what comes back. */
class Browser {
  readonly received: Wire[] = [];
  readonly undecodable: string[] = [];
  closed: number | undefined;
  private wake: (() => void) | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      try {
        if (isBinary) {
          if (data.readUInt32LE(0) !== data.length - 5) throw new Error('not exactly one frame');
          this.received.push(JSON.parse(data.subarray(5).toString('utf8')) as Wire);
        } else this.received.push(JSON.parse(data.toString('utf8')) as Wire);
      } catch (e) {
        this.undecodable.push(String(e));
      }
      this.wake?.();
    });
    ws.on('close', (code) => {
      this.closed = code;
      this.wake?.();
    });
    ws.on('error', () => {});
  }

  static open(url: string): Promise<Browser> {
    const ws = new WebSocket(url, ['autocore-ipc.v1'], {
      headers: { Authorization: `Bearer ${TOKEN}` },
      perMessageDeflate: false,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Browser(ws)));
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) =>
        reject(new Error(`handshake refused: ${res.statusCode}`)),
      );
    });
  }

  send(unit: Uint8Array, form: Form): void {
    this.ws.send(unit, { binary: form === 'binary' });
  }

  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      const left = deadline - performance.now();
      if (left <= 0 || this.closed !== undefined) return done();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return true;
  }

  take(pred: (m: Wire) => boolean): Wire | undefined {
    const i = this.received.findIndex(pred);
    return i < 0 ? undefined : this.received.splice(i, 1)[0];
  }
}

const logs: unknown[] = [];
const stats = { cases: 0, closes: new Map<number, number>(), relayed: 0, answered: 0, dropped: 0 };

/**
 * One lane: a recording upstream, a bridge in front of it, and the one browser connection in
 * use. Lanes run side by side (each case waits on round trips through one process, so several
 * lanes share the machine better than one), and each has its own bridge so that the upstream
 * connection of a browser is simply the newest one of its lane.
 */
interface Lane {
  upstream: FuzzUpstream;
  bridge: Bridge;
  browser: Browser | undefined;
  conn: UpstreamConn | undefined;
  model: BrowserModel;
  serial: number;
  probe: number;
}

const LANES = 4;
const lanes: Lane[] = [];

async function startLane(n: number): Promise<Lane> {
  const upstream = await startFuzzUpstream();
  const bridge = await createBridge({
    port: 0,
    upstream: upstream.address,
    tokens: [
      {
        id: 'fuzz',
        token: TOKEN,
        names: ['fz*'],
        request: ['>'],
        subscribe: ['>'],
        broadcast: ['>'],
        denyRequest: ['secret.>'],
        denySubscribe: ['secret.>'],
        denyBroadcast: ['secret.>'],
        maxConnections: 8,
      },
    ],
    // The rate limit has its own row in the security list; here it would only get in the way.
    limits: {
      ...LIMITS,
      rateCapacity: 1_000_000,
      rateRefillPerSecond: 1_000_000,
      pingIntervalMs: 0,
      closeGraceMs: 500,
    },
    log: (e) => logs.push(e),
  });
  return {
    upstream,
    bridge,
    browser: undefined,
    conn: undefined,
    model: { form: undefined, registered: undefined, pending: undefined },
    serial: n * 1_000_000,
    probe: 0xf000_0000 + n * 0x0100_0000,
  };
}

/** Runs `work` split over the lanes, each lane taking every LANES-th item. */
async function overLanes<T>(
  items: T[],
  work: (lane: Lane, item: T) => Promise<void>,
): Promise<void> {
  await Promise.all(
    lanes.map(async (lane, i) => {
      for (let k = i; k < items.length; k += lanes.length) await work(lane, items[k] as T);
    }),
  );
}

function encode(obj: Record<string, unknown>, form: Form): Uint8Array {
  const json = Buffer.from(JSON.stringify(obj));
  if (form === 'text') return json;
  const out = Buffer.alloc(5 + json.length);
  out.writeUInt32LE(json.length, 0);
  out[4] = obj.message_type as number;
  json.copy(out, 5);
  return out;
}

async function drop(session: Lane): Promise<void> {
  const b = session.browser;
  session.browser = undefined;
  session.conn = undefined;
  session.model = { form: undefined, registered: undefined, pending: undefined };
  if (b !== undefined && b.closed === undefined) {
    b.ws.terminate();
    await b.until(() => b.closed !== undefined, 2000);
  }
}

async function ensure(session: Lane, state: State, form: Form): Promise<Browser> {
  const b = session.browser;
  const m = session.model;
  if (
    b !== undefined &&
    b.closed === undefined &&
    (m.form === undefined || m.form === form) &&
    (m.registered !== undefined) === (state === 'registered') &&
    m.pending === undefined
  ) {
    return b;
  }
  await drop(session);
  const { upstream } = session;
  const count = upstream.connections.length;
  const browser = await Browser.open(session.bridge.url);
  session.browser = browser;
  const deadline = performance.now() + 3000;
  while (upstream.connections.length === count && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 1));
  session.conn = upstream.connections.at(-1);
  if (session.conn === undefined || upstream.connections.length === count)
    throw new Error('the bridge opened no upstream connection');
  if (state === 'registered') {
    const name = `fzpeer${++session.serial}`;
    const txid = 7_000_000 + session.serial;
    browser.send(
      encode(
        { transaction_id: txid, topic: name, message_type: 4, control_type: 3, data: { name } },
        form,
      ),
      form,
    );
    await browser.until(() => browser.received.some((w) => w.transaction_id === txid), 3000);
    const ack = browser.take((w) => w.transaction_id === txid);
    if (ack?.success !== true) throw new Error(`fuzz browser ${name} could not register`);
    session.model = { form, registered: name, pending: undefined };
    session.conn.received.length = 0;
  }
  return browser;
}

/** One message on a connection in `state`/`form` (sent in `sendForm`); undefined when the bridge did as specified. */
async function runBridgeCase(
  session: Lane,
  state: State,
  form: Form,
  unit: Uint8Array,
  sendForm: Form = form,
): Promise<string | undefined> {
  stats.cases++;
  const browser = await ensure(session, state, form);
  const conn = session.conn as UpstreamConn;
  const model = session.model;
  const relayedBefore = conn.received.length;
  const step = bridgeStep(model, unit, sendForm, LIMITS);
  browser.send(unit, sendForm);
  const problems: string[] = [];
  let relayedCount = 0;
  const closeExpected =
    step.kind === 'close'
      ? step.code
      : step.kind === 'answer' && step.registerAck
        ? 1008
        : undefined;

  if (step.kind === 'answer') {
    stats.answered++;
    const kindOk = (w: Wire): boolean =>
      step.registerAck ? w.message_type === 4 && w.control_type === 4 : w.message_type === 2;
    await browser.until(
      () => browser.received.some((w) => w.transaction_id === step.txid && kindOk(w)),
      3000,
    );
    const got = browser.take((w) => w.transaction_id === step.txid && kindOk(w));
    if (got === undefined)
      problems.push(`no failed ${step.registerAck ? 'RegisterAck' : 'Response'} ${step.txid}`);
    else if (got.success !== false || !got.error_message.startsWith(step.error)) {
      problems.push(
        `answer ${step.txid}: success ${got.success}, "${got.error_message.slice(0, 80)}", expected failure "${step.error.slice(0, 80)}"`,
      );
    }
  } else if (step.kind === 'relay' || step.kind === 'relay-or-refuse') {
    const txid = step.msg.transactionId;
    await browser.until(
      () =>
        conn.received.length > relayedBefore ||
        (step.kind === 'relay-or-refuse' &&
          browser.received.some((w) => w.transaction_id === txid)),
      3000,
    );
    const relayed = conn.received[relayedBefore];
    if (relayed === undefined) {
      const refusal =
        step.kind === 'relay-or-refuse'
          ? browser.take((w) => w.transaction_id === txid && w.message_type === 2)
          : undefined;
      if (refusal === undefined || !refusal.error_message.startsWith('Not allowed: '))
        problems.push('the message was not relayed');
      else stats.answered++;
    } else {
      stats.relayed++;
      relayedCount = 1;
      const d = diffMessage(step.msg, relayed);
      if (d !== undefined) problems.push(`relayed message differs: ${d}`);
      const reply = step.kind === 'relay' ? step.reply : txid === 0 ? undefined : 'Response';
      if (reply !== undefined) {
        const kindOk = (w: Wire): boolean =>
          reply === 'Response'
            ? w.message_type === 2
            : reply === 'Heartbeat'
              ? w.message_type === 9
              : w.message_type === 4 && w.control_type === 4;
        await browser.until(
          () => browser.received.some((w) => w.transaction_id === txid && kindOk(w)),
          3000,
        );
        const got = browser.take((w) => w.transaction_id === txid && kindOk(w));
        if (got === undefined) problems.push(`the server's ${reply} ${txid} did not come back`);
        else if (reply === 'RegisterAck' && got.success) {
          model.registered = model.pending;
          model.pending = undefined;
        }
      }
    }
  } else if (step.kind === 'drop') stats.dropped++;

  if (closeExpected !== undefined) {
    await browser.until(() => browser.closed !== undefined, 3000);
    stats.closes.set(closeExpected, (stats.closes.get(closeExpected) ?? 0) + 1);
    if (browser.closed !== closeExpected)
      problems.push(
        `expected close ${closeExpected}${step.kind === 'close' ? ` (${step.why})` : ''}, got ${browser.closed ?? 'still open'}`,
      );
  } else {
    // The probe: an answer to it proves everything before it was handled, and nothing closed.
    const id = (session.probe = session.probe + 1);
    const registered = model.registered !== undefined;
    browser.send(
      encode(
        registered
          ? { transaction_id: id, topic: 'probe.echo', message_type: 1 }
          : { transaction_id: id, topic: '', message_type: 9 },
        form,
      ),
      form,
    );
    await browser.until(() => browser.received.some((w) => w.transaction_id === id), 3000);
    if (browser.take((w) => w.transaction_id === id) === undefined) {
      problems.push(
        browser.closed !== undefined
          ? `closed ${browser.closed}, the spec keeps it open`
          : 'no probe answer within 3 s',
      );
    }
    const extra = conn.received.length - relayedBefore - relayedCount - 1;
    if (extra !== 0) problems.push(`${extra} unexpected relay(s) to the server`);
    conn.received.length = 0;
  }
  if (browser.received.length > 0)
    problems.push(
      `unexpected message(s) to the browser: ${JSON.stringify(browser.received).slice(0, 200)}`,
    );
  browser.received.length = 0;
  if (conn.bad.length > 0) problems.push(`relayed a bad message: ${conn.bad.join('; ')}`);
  if (browser.undecodable.length > 0)
    problems.push(`sent the browser something undecodable: ${browser.undecodable[0]}`);
  if (closeExpected !== undefined || browser.closed !== undefined) {
    if (closeExpected !== undefined && conn.received.length > relayedBefore)
      problems.push('relayed something of a message that closed the connection');
    await drop(session);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** The size a row's `size` is relative to, for a connection in this state and form. */
function limitFor(state: State, form: Form): number {
  return (
    (state === 'registered' ? LIMITS.maxMessageBytes : LIMITS.maxPreRegistrationBytes) -
    (form === 'binary' ? 5 : 0)
  );
}

describe('fuzz: bridge over WebSockets', () => {
  const before = prototypeSnapshot();

  beforeAll(async () => {
    for (let i = 0; i < LANES; i++) lanes.push(await startLane(i));
  });

  afterAll(async () => {
    for (const lane of lanes) {
      await drop(lane);
      await lane.bridge.close();
      await lane.upstream.close();
    }
  });

  it('handles every regression case as specified, in text and binary, before and after registration', async () => {
    const problems: string[] = [];
    const cases = (['text', 'binary'] as const).flatMap((form) =>
      (['fresh', 'registered'] as const).flatMap((state) =>
        REGRESSION_ROWS.map((row) => ({ form, state, row })),
      ),
    );
    await overLanes(cases, async (lane, { form, state, row }) => {
      const c = rowToCase(row, limitFor(state, form));
      const p = await runBridgeCase(lane, state, form, form === 'text' ? c.payload : frameBytes(c));
      if (p !== undefined) problems.push(`${row.name} (${form}, ${state}): ${p}`);
    });
    expect(problems).toEqual([]);
  });

  it('handles every type byte 0-255 in text and binary, before and after registration', async () => {
    const problems: string[] = [];
    const cases = (['text', 'binary'] as const).flatMap((form) =>
      (['fresh', 'registered'] as const).flatMap((state) =>
        Array.from({ length: 256 }, (_, type) => ({ form, state, type })),
      ),
    );
    await overLanes(cases, async (lane, { form, state, type }) => {
      const payload = new TextEncoder().encode(
        `{"transaction_id":${2000 + type},"topic":"probe.echo","message_type":${type},"control_type":6}`,
      );
      const p = await runBridgeCase(
        lane,
        state,
        form,
        form === 'text' ? payload : frameBytes({ payload, type }),
      );
      if (p !== undefined) problems.push(`type ${type} (${form}, ${state}): ${p}`);
    });
    expect(problems).toEqual([]);
  });

  it('handles random messages as PROTOCOL.md section 7 specifies and never relays a bad one', async () => {
    const start = stats.cases;
    const arb = fc.record({
      state: fc.constantFrom<State>('fresh', 'registered', 'registered'),
      form: fc.constantFrom<Form>('text', 'binary'),
      mixed: fc.oneof(
        { weight: 19, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
      fromText: fc.boolean(),
      text: textCaseArb,
      frame: frameCaseArb,
    });
    // One property per lane, seeded FUZZ_SEED + lane number (each seed is printed).
    const outcomes = await Promise.all(
      lanes.map((lane, i) =>
        fuzz(
          `bridge lane ${i}`,
          arb,
          ({ state, form, mixed, fromText, text, frame }) => {
            const unit =
              form === 'text'
                ? fromText
                  ? new TextEncoder().encode(text)
                  : frame.payload
                : frameBytes(frame);
            return runBridgeCase(
              lane,
              state,
              form,
              unit,
              mixed ? (form === 'text' ? 'binary' : 'text') : form,
            );
          },
          {
            numRuns: Math.ceil(byMode(800, 10_000) / lanes.length),
            seed: (FUZZ_SEED + i) | 0,
            rows: ({ form, fromText, text, frame }) =>
              form === 'text' && fromText
                ? [`{ name: 'shrunk (text)', text: ${JSON.stringify(text)}, type: 1 },`]
                : [caseRow(frame)],
          },
        ),
      ),
    );
    const failures = outcomes.flatMap((o) => (o.failure === undefined ? [] : [o.failure]));
    const outcome = {
      seed: FUZZ_SEED,
      failure: failures.length === 0 ? undefined : failures.join('\n'),
    };
    const protoOk = prototypeSnapshot() === before;
    const closes = [...stats.closes]
      .sort((a, b) => a[0] - b[0])
      .map(([code, n]) => `${code}x${n}`)
      .join(' ');
    recordFigure({
      item: 1,
      name: 'bridge: fuzz over WebSockets',
      tried: `regression table, type bytes 0-255 and random messages in text and binary, before and after registration (fast-check seeds ${outcome.seed}..${outcome.seed + lanes.length - 1}, one per lane)`,
      times: `${stats.cases} messages (${stats.cases - start} random): ${stats.relayed} relayed, ${stats.answered} refused with a failed answer, ${stats.dropped} dropped, closes ${closes}`,
      figure: `${failures.length} wrong outcomes, 0 bad messages relayed, 0 hangs, Object.prototype ${protoOk ? 'unchanged' : 'CHANGED'}`,
      target:
        'close 1003/1007/1008/1009, failed Response or relay exactly as specified; never relay a bad message',
      ok: outcome.failure === undefined && protoOk,
    });
    expect(outcome.failure).toBeUndefined();
    expect(protoOk).toBe(true);
  });
});
