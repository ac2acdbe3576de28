/**
 * Reliability item 1, client target: every type byte 0-255 sent by a hand-made hub to a real
 * IpcClient, before its RegisterAck and once registered. PROTOCOL.md section 1: a type byte that
 * names no MessageType closes the connection (the client then settles everything with a typed
 * error); a valid one is served (sections 3-4) and the connection stays usable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.ts';
import { FrameDecoder } from '../../src/core/frame-decoder.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { IpcClient, tcpConnector } from '../../src/node.ts';
import { listenTcp, type TcpListener, type TcpTransport } from '../../src/transports/tcp.node.ts';
import { frameOf } from '../support/hand-frames.ts';
import { recordFigure } from './support/figures.ts';

type Phase = 'before RegisterAck' | 'registered';

/** What the hub does with each accepted client: set per case. */
let script: (
  t: TcpTransport,
  inbox: CommandMessage[],
  wake: () => void,
) => Promise<void> = async () => {};
let listener: TcpListener;

function waitFor(
  pred: () => boolean,
  inboxWake: { fn?: () => void },
  ms: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(pred()), ms);
    const check = (): void => {
      if (!pred()) return;
      clearTimeout(timer);
      resolve(true);
    };
    inboxWake.fn = check;
    check();
  });
}

/** One case: a fresh client, the hub sends one frame of `type` in `phase`; undefined when the client did as specified. */
async function clientCase(type: number, phase: Phase): Promise<string | undefined> {
  const txid = 5000 + type;
  const payload = `{"transaction_id":${txid},"topic":"fzc.echo","message_type":${type},"control_type":6,"data":1}`;
  let problem: string | undefined;
  let hubSawClose = false;
  let hubDone!: () => void;
  const hubFinished = new Promise<void>((r) => (hubDone = r));
  script = async (t, inbox, _wake) => {
    const waker: { fn?: () => void } = {};
    (t as unknown as { waker: typeof waker }).waker = waker;
    try {
      await waitFor(() => inbox.some((m) => m.controlType === ControlType.Register), waker, 3000);
      const reg = inbox.find((m) => m.controlType === ControlType.Register);
      if (reg === undefined) throw new Error('no Register');
      const ack = (): void => {
        const a = new CommandMessage({
          transactionId: reg.transactionId,
          topic: 'fzc',
          messageType: MessageType.Control,
          success: true,
          data: { server: 'hub', version: '0', heartbeat_ms: 0, max_payload: 4194304 },
        });
        a.controlType = ControlType.RegisterAck;
        t.send(encodeFrame(a));
        const init = CommandMessage.control(ControlType.Initialize, 'fzc', null);
        init.transactionId = 77;
        t.send(encodeFrame(init));
      };
      if (phase === 'registered') {
        ack();
        await waitFor(() => inbox.some((m) => m.transactionId === 77), waker, 3000);
      }
      t.send(frameOf(payload, type));
      if (phase === 'before RegisterAck' && type <= 9) ack();
      if (type > 9) {
        const closed = await Promise.race([
          t.closed.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
        ]);
        hubSawClose = closed;
        if (!closed) problem = 'the client kept a connection whose peer sent an unknown type byte';
        return;
      }
      // The probe: a Heartbeat the client must answer, proving the connection still works.
      t.send(encodeFrame(CommandMessage.heartbeat(99)));
      const ok = await waitFor(
        () => inbox.some((m) => m.messageType === MessageType.Heartbeat && m.transactionId === 99),
        waker,
        3000,
      );
      if (!ok) problem = `no answer to a Heartbeat after type ${type}`;
      if (phase === 'registered') {
        const answered = inbox.filter((m) => m.transactionId === txid);
        // Request/Read/Write, Control (Status here) and Subscribe/Unsubscribe ask for a Response;
        // a Heartbeat is answered with a Heartbeat; NoOp, Response and Broadcast with nothing.
        const want = [1, 4, 5, 6, 7, 8].includes(type)
          ? [MessageType.Response]
          : type === 9
            ? [MessageType.Heartbeat]
            : [];
        const got = answered.map((m) => m.messageType as number);
        if (got.join() !== want.join() && problem === undefined)
          problem = `answered with types [${got.join()}], expected [${want.join()}]`;
        // Subscribe/Unsubscribe are the server's business: a module must refuse them.
        if ((type === 7 || type === 8) && answered[0]?.success !== false && problem === undefined)
          problem = `type ${type}: a module accepted a Subscribe/Unsubscribe`;
      }
    } catch (e) {
      problem = String(e);
    } finally {
      hubDone();
    }
  };
  const handler = { domain: 'fzc', handleMessage: (m: CommandMessage) => m.intoResponse(m.data) };
  let closedWith: IpcError | undefined;
  let client: IpcClient | undefined;
  let connectError: unknown;
  try {
    client = await IpcClient.connect(tcpConnector(`127.0.0.1:${listener.port}`), handler, {
      reconnect: false,
      retryFirstConnect: false,
      heartbeatMs: 0,
      handshakeTimeoutMs: 3000,
      listeners: { closed: ({ error }) => (closedWith = error) },
    });
  } catch (e) {
    connectError = e;
  }
  await hubFinished;
  if (type > 9) {
    // The client must settle with a typed error, naming the framing fault.
    if (client !== undefined) {
      const deadline = Date.now() + 2000;
      while (closedWith === undefined && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      if (closedWith?.code !== 'ERR_FRAMING')
        problem ??= `closed with ${closedWith?.code ?? 'nothing'}, expected ERR_FRAMING`;
    } else if (
      !(connectError instanceof IpcError) ||
      (connectError.code !== 'ERR_FRAMING' &&
        !(connectError.cause instanceof IpcError && connectError.cause.code === 'ERR_FRAMING'))
    ) {
      problem ??= `connect() rejected with ${String(connectError)}, expected a framing IpcError`;
    }
    if (!hubSawClose) problem ??= 'connection not closed';
  } else if (phase === 'registered' && client === undefined) {
    problem ??= `connect() failed: ${String(connectError)}`;
  } else if (connectError !== undefined && !(connectError instanceof IpcError)) {
    problem ??= `connect() rejected with an untyped ${String(connectError)}`;
  }
  await client?.close({ timeoutMs: 200 });
  return problem;
}

describe('fuzz: IpcClient and every type byte', () => {
  beforeAll(async () => {
    listener = await listenTcp({ host: '127.0.0.1', port: 0 }, (t) => {
      const inbox: CommandMessage[] = [];
      const decoder = new FrameDecoder();
      const wake = (): void => (t as unknown as { waker?: { fn?: () => void } }).waker?.fn?.();
      void (async () => {
        for await (const chunk of t) {
          for (const item of decoder.push(chunk as Uint8Array))
            if (!(item instanceof IpcError)) inbox.push(item);
          wake();
        }
      })();
      void script(t, inbox, wake).finally(() => t.close());
    });
  });

  afterAll(async () => {
    await listener?.close();
  });

  it('closes on type bytes 10-255 with ERR_FRAMING and serves 0-9, before its RegisterAck and once registered', async () => {
    const started = performance.now();
    const problems: string[] = [];
    let cases = 0;
    for (const phase of ['registered', 'before RegisterAck'] as const) {
      for (let type = 0; type <= 255; type++) {
        cases++;
        const p = await clientCase(type, phase);
        if (p !== undefined) problems.push(`${phase}, type ${type}: ${p}`);
      }
    }
    recordFigure({
      item: 1,
      name: 'client: every type byte',
      tried:
        'a hub sends each type byte 0-255 to a real IpcClient, before its RegisterAck and once registered',
      times: `${cases} cases`,
      figure: `${problems.length} wrong outcomes, 0 hangs (${Math.round(performance.now() - started)} ms)`,
      target: 'unknown type byte: connection closed, ERR_FRAMING; known: served, connection kept',
      ok: problems.length === 0,
    });
    expect(problems).toEqual([]);
  });
});
