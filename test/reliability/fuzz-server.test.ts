/**
 * Reliability item 1, server target: the real IpcServer over loopback TCP, fed fuzz frames on a
 * connection before registration and on a registered one, whole or one byte per read. What it
 * answers (or that it closes) is compared with PROTOCOL.md sections 1-5, through the oracle and
 * the server model in support/, and healthy modules on other connections must keep working.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpcClient, IpcServer, tcpConnector, type CommandMessage as Msg } from '../../src/node.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { REGRESSION_ROWS, REGRESSION_SEQUENCES } from './regressions/fuzz-cases.ts';
import { byMode, recordFigure } from './support/figures.ts';
import {
  caseRow,
  frameBytes,
  frameCaseArb,
  rowToCase,
  type FrameCase,
} from './support/fuzz-cases.ts';
import { verdictOf } from './support/fuzz-judge.ts';
import { FuzzPeer } from './support/fuzz-peer.ts';
import { fuzz, prototypeSnapshot } from './support/fuzz-run.ts';
import {
  serverStep,
  type PeerModel,
  type ServerFacts,
  type Want,
} from './support/fuzz-server-model.ts';

/** The server's defaults (section 8): 64 KiB before registration, 4 MiB after. */
const PRE_MAX = 64 * 1024;
const MAX = 4 * 1024 * 1024;
const HEALTHY = 'healthy';
const BYSTANDER = 'bystander';

type State = 'fresh' | 'registered';

let server: IpcServer;
let healthy: IpcClient;
let bystander: IpcClient;
const healthRtts: number[] = [];
let healthFailures = 0;
let casesRun = 0;
let closesSeen = 0;
let serverErrors = 0;

const facts: ServerFacts = {
  taken: () => false,
  modules: new Set([HEALTHY, BYSTANDER]),
  maxSubscriptions: 1024,
};

/** The fuzz connection in use and the model of it; one at a time. */
const session = {
  peer: undefined as FuzzPeer | undefined,
  model: { name: undefined, subs: new Set<string>() } as PeerModel,
  serial: 0,
  probeId: 0xfff0_0000,
};

async function nameFreed(name: string): Promise<void> {
  const deadline = performance.now() + 3000;
  while (server.modules().some((m) => m.name === name)) {
    if (performance.now() > deadline)
      throw new Error(`server still lists ${name} 3 s after its connection closed`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function drop(): Promise<void> {
  const { peer, model } = session;
  session.peer = undefined;
  session.model = { name: undefined, subs: new Set() };
  if (peer === undefined) return;
  if (!peer.closed) await peer.close();
  if (model.name !== undefined) await nameFreed(model.name);
}

async function ensure(state: State): Promise<FuzzPeer> {
  const current = session.peer;
  if (
    current !== undefined &&
    !current.closed &&
    (session.model.name !== undefined) === (state === 'registered')
  ) {
    return current;
  }
  await drop();
  const peer = await FuzzPeer.connect(server.address);
  session.peer = peer;
  if (state === 'registered') {
    const name = `zzfuzz${++session.serial}`;
    const reg = CommandMessage.control(ControlType.Register, name, {
      name,
      version: '1',
      capabilities: [],
    });
    peer.sendMessage(reg);
    const ok = await peer.until(
      () => peer.inbox.some((m) => m.controlType === ControlType.RegisterAck),
      3000,
    );
    const ack = peer.inbox.find((m) => m.controlType === ControlType.RegisterAck);
    if (!ok || ack?.success !== true) throw new Error(`fuzz peer ${name} could not register`);
    peer.inbox.length = 0;
    session.model.name = name;
  }
  return peer;
}

function kindOf(m: Msg): Want['kind'] | undefined {
  if (m.messageType === MessageType.Response) return 'Response';
  if (m.messageType === MessageType.Heartbeat) return 'Heartbeat';
  if (m.messageType === MessageType.Control && m.controlType === ControlType.RegisterAck)
    return 'RegisterAck';
  return undefined;
}

function matches(w: Want, m: Msg): boolean {
  return kindOf(m) === w.kind && m.transactionId === w.txid;
}

function checkAnswer(w: Want, m: Msg): string | undefined {
  if (w.success !== undefined && m.success !== w.success) {
    return `${w.kind} ${w.txid}: success ${m.success}, expected ${w.success} (${m.errorMessage})`;
  }
  if (w.error !== undefined && !m.errorMessage.startsWith(w.error)) {
    return `${w.kind} ${w.txid}: error "${m.errorMessage.slice(0, 80)}", expected it to start with "${w.error.slice(0, 80)}"`;
  }
  w.onSeen?.(m.success);
  return undefined;
}

/** Sends one sequence of frames on a connection in `state`; undefined when the server did as specified. */
async function runServerCase(
  state: State,
  frames: FrameCase[],
  trickle: boolean,
): Promise<string | undefined> {
  casesRun++;
  const peer = await ensure(state);
  const model = session.model;
  const wants: Want[] = [];
  let close: 'none' | 'framing' | 'clean' = 'none';
  const bytes: Uint8Array[] = [];
  for (const c of frames) {
    const step = serverStep(model, verdictOf(c, model.name === undefined ? PRE_MAX : MAX), facts);
    bytes.push(frameBytes(c));
    wants.push(...step.wants);
    if (step.registers !== undefined) model.name = step.registers;
    if (step.close !== 'none') {
      close = step.close;
      break;
    }
  }
  let probe: CommandMessage | undefined;
  if (close === 'none') {
    do session.probeId = session.probeId >= 0xffff_fff0 ? 0xfff0_0000 : session.probeId + 1;
    while (wants.some((w) => w.txid === session.probeId));
    probe =
      model.name === undefined
        ? CommandMessage.heartbeat(session.probeId)
        : new CommandMessage({
            transactionId: session.probeId,
            topic: 'system.ping',
            messageType: MessageType.Request,
          });
  }
  for (const b of bytes) {
    if (trickle) await peer.trickle(b);
    else peer.send(b);
  }
  if (probe !== undefined) peer.sendMessage(probe);

  const seen = new Set<Want>();
  const problems: string[] = [];
  const take = (): boolean => {
    while (peer.inbox.length > 0) {
      const m = peer.inbox.shift() as Msg;
      if (
        probe !== undefined &&
        m.transactionId === probe.transactionId &&
        kindOf(m) === (model.name === undefined ? 'Heartbeat' : 'Response')
      ) {
        probe = undefined;
        continue;
      }
      const w = wants.find((x) => !seen.has(x) && matches(x, m));
      if (w === undefined) {
        problems.push(
          `unexpected type ${m.messageType} ${m.transactionId}: ${m.success} ${m.errorMessage.slice(0, 80)}`,
        );
        continue;
      }
      seen.add(w);
      const p = checkAnswer(w, m);
      if (p !== undefined) problems.push(p);
    }
    return probe === undefined && seen.size === wants.length;
  };
  if (close === 'none') {
    const done = await peer.until(take, 5000);
    take();
    if (peer.closed) problems.push('the server closed a connection the spec keeps open');
    else if (!done)
      problems.push(
        `no ${probe ? 'probe answer' : 'answer'} within 5 s (${wants.length - seen.size} of ${wants.length} answers missing)`,
      );
  } else {
    const closed = await peer.waitClosed(close === 'framing' ? 3000 : 4000);
    take();
    if (!closed)
      problems.push(`expected the server to close (${close}), still open after the deadline`);
    closesSeen++;
    // After a framing fault nothing more is written; answers to earlier frames of the same read
    // may be lost with the socket. After a clean close every answer must have been flushed.
    if (close === 'clean' && seen.size !== wants.length)
      problems.push(`${wants.length - seen.size} answer(s) missing before the clean close`);
    await drop();
  }
  if (peer.decodeErrors.length > 0)
    problems.push(`the server wrote undecodable bytes: ${peer.decodeErrors[0]?.message}`);
  if (casesRun % 40 === 0) await healthCheck();
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** Another connection's round trip through the server must keep working meanwhile. */
async function healthCheck(): Promise<void> {
  const t0 = performance.now();
  try {
    const r = await bystander.request(`${HEALTHY}.echo`, casesRun, { timeoutMs: 2000 });
    if (r.data !== casesRun) healthFailures++;
  } catch {
    healthFailures++;
  }
  healthRtts.push(performance.now() - t0);
}

describe('fuzz: IpcServer over loopback', () => {
  const before = prototypeSnapshot();

  beforeAll(async () => {
    server = await IpcServer.listen({
      port: 0,
      heartbeatMs: 0,
      registrationTimeoutMs: 120_000,
      requestTimeoutMs: 2000,
    });
    server.on('error', () => serverErrors++);
    const echo = { domain: HEALTHY, handleMessage: (m: Msg) => m.intoResponse(m.data) };
    healthy = await IpcClient.connect(tcpConnector(server.address), echo, { heartbeatMs: 0 });
    bystander = await IpcClient.connect(
      tcpConnector(server.address),
      { domain: BYSTANDER, handleMessage: (m: Msg) => m.intoResponse(null) },
      { heartbeatMs: 0 },
    );
  });

  afterAll(async () => {
    await drop();
    await healthy?.close();
    await bystander?.close();
    await server?.close({ timeoutMs: 500 });
  });

  it('answers every regression case as specified, before and after registration', async () => {
    const problems: string[] = [];
    for (const state of ['fresh', 'registered'] as const) {
      for (const row of REGRESSION_ROWS) {
        const c = rowToCase(row, state === 'fresh' ? PRE_MAX : MAX);
        const p = await runServerCase(state, [c], false);
        if (p !== undefined) problems.push(`${row.name} (${state}): ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('answers every regression sequence as specified, in its state and pacing', async () => {
    const problems: string[] = [];
    for (const seq of REGRESSION_SEQUENCES) {
      const frames = seq.rows.map((row) => rowToCase(row, seq.state === 'fresh' ? PRE_MAX : MAX));
      const p = await runServerCase(seq.state, frames, seq.trickle);
      if (p !== undefined) problems.push(`${seq.name}: ${p}`);
    }
    expect(problems).toEqual([]);
  });

  it('closes on every type byte 10-255 and serves 0-9, before and after registration', async () => {
    const problems: string[] = [];
    for (const state of ['fresh', 'registered'] as const) {
      for (let type = 0; type <= 255; type++) {
        const payload = new TextEncoder().encode(
          `{"transaction_id":${1000 + type},"topic":"probe.echo","message_type":${type},"control_type":6}`,
        );
        const p = await runServerCase(state, [{ payload, type }], type % 16 === 3);
        if (p !== undefined) problems.push(`type ${type} (${state}): ${p}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('answers random frame sequences as PROTOCOL.md specifies, and other modules keep working', async () => {
    const start = casesRun;
    const arb = fc.record({
      state: fc.constantFrom<State>('fresh', 'registered', 'registered'),
      frames: fc.array(frameCaseArb, { minLength: 1, maxLength: 3 }),
      trickle: fc.oneof(
        { weight: 9, arbitrary: fc.constant(false) },
        { weight: 1, arbitrary: fc.constant(true) },
      ),
    });
    // Trickling sends one byte per event-loop turn: kept to small frames.
    const paced = ({ frames, trickle }: { frames: FrameCase[]; trickle: boolean }): boolean =>
      trickle && frames.every((f) => f.payload.length < 400);
    const outcome = await fuzz(
      'server',
      arb,
      (input) => runServerCase(input.state, input.frames, paced(input)),
      {
        numRuns: byMode(1200, 15_000),
        // A REGRESSION_SEQUENCES entry: the frames alone would lose the state and the pacing.
        rows: (input) => [
          `{ name: 'shrunk counterexample', state: '${input.state}', trickle: ${paced(input)}, rows: [`,
          ...input.frames.map((f) => `  ${caseRow(f)}`),
          '] },',
        ],
      },
    );
    await healthCheck();
    const protoOk = prototypeSnapshot() === before;
    const sorted = [...healthRtts].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? NaN;
    recordFigure({
      item: 1,
      name: 'server: fuzz over loopback',
      tried: `regression table, type bytes 0-255 and random frame sequences (whole or 1 byte per read) before and after registration (fast-check seed ${outcome.seed})`,
      times: `${casesRun} cases (${casesRun - start} random), ${closesSeen} closes`,
      figure: `${outcome.failure === undefined ? 0 : 1} wrong answers, 0 hangs, Object.prototype ${protoOk ? 'unchanged' : 'CHANGED'}; other module: ${healthRtts.length - healthFailures}/${healthRtts.length} round trips ok, p99 ${p99.toFixed(1)} ms`,
      target: 'every case answered or closed as specified; other connections keep working',
      ok: outcome.failure === undefined && protoOk && healthFailures === 0,
    });
    expect(outcome.failure).toBeUndefined();
    expect(protoOk).toBe(true);
    expect(healthFailures).toBe(0);
    // Loose sanity bound only (a loaded 2-core box moves latencies): see the figure for the value.
    expect(p99).toBeLessThan(1000);
  });
});
