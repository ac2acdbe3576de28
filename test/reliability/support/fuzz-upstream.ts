/**
 * The server behind the bridge in the bridge fuzzer: it records every frame the bridge relays,
 * judges each with the oracle (a relayed frame that is not a valid message is a failure: the
 * bridge must never relay any part of a bad message), and answers like the real server would
 * for the few things the fuzzer needs (Register, Request/Read/Write as an echo,
 * Subscribe/Unsubscribe, Heartbeat; messages with transaction id 0 are not answered).
 */
import { FrameDecoder } from '../../../src/core/frame-decoder.ts';
import { encodeFrame } from '../../../src/core/frame.ts';
import { CommandMessage } from '../../../src/core/message.ts';
import {
  listenTcp,
  type TcpListener,
  type TcpTransport,
} from '../../../src/transports/tcp.node.ts';
import { C, T, judgeFrame, type ExpectedMessage } from './fuzz-oracle.ts';

/** One TCP connection the bridge opened (one WebSocket client). */
export interface UpstreamConn {
  readonly transport: TcpTransport;
  /** Every relayed frame, as the oracle decoded it. */
  readonly received: ExpectedMessage[];
  /** Relayed frames the oracle does not accept as a valid message. */
  readonly bad: string[];
}

export interface FuzzUpstream {
  readonly address: string;
  readonly connections: UpstreamConn[];
  close(): Promise<void>;
}

const MAX = 4 * 1024 * 1024;

function reply(t: TcpTransport, m: ExpectedMessage, init: Partial<CommandMessage>): void {
  const out = new CommandMessage({
    transactionId: m.transactionId,
    topic: m.topic,
    messageType: T.Response,
    success: true,
  });
  Object.assign(out, init);
  t.send(encodeFrame(out));
}

function answer(t: TcpTransport, m: ExpectedMessage): void {
  if (m.transactionId === 0) return;
  switch (m.messageType) {
    case T.Control:
      if (m.controlType === C.Register) {
        reply(t, m, {
          messageType: T.Control,
          controlType: C.RegisterAck,
          data: { server: 'fuzz-upstream', version: '0', heartbeat_ms: 10_000, max_payload: MAX },
        });
      }
      return;
    case T.Request:
    case T.Read:
    case T.Write:
      reply(t, m, { data: m.data });
      return;
    case T.Subscribe:
    case T.Unsubscribe:
      reply(t, m, {});
      return;
    case T.Heartbeat:
      t.send(encodeFrame(CommandMessage.heartbeat(m.transactionId)));
      return;
    default:
      return;
  }
}

/** Starts the recording upstream on 127.0.0.1, port 0. */
export async function startFuzzUpstream(): Promise<FuzzUpstream> {
  const connections: UpstreamConn[] = [];
  const serve = (transport: TcpTransport): void => {
    const conn: UpstreamConn = { transport, received: [], bad: [] };
    connections.push(conn);
    const decoder = new FrameDecoder({ maxPayload: MAX });
    void (async () => {
      try {
        for await (const chunk of transport) {
          // Frames are split by header only; the oracle, not the decoder under test, judges them.
          decoder.pushFrames(chunk as Uint8Array, (_type, _payload, frame) => {
            const v = judgeFrame(frame, MAX);
            if (v.kind !== 'message') {
              conn.bad.push(
                `${v.kind}: ${v.why} (${Buffer.from(frame.subarray(5, 85)).toString('latin1')})`,
              );
              return;
            }
            conn.received.push(v.msg);
            answer(transport, v.msg);
          });
        }
      } catch (e) {
        conn.bad.push(`bad frame header: ${(e as Error).message}`);
        transport.close();
      }
    })();
  };
  const listener: TcpListener = await listenTcp({ host: '127.0.0.1', port: 0 }, serve);
  return {
    address: `127.0.0.1:${listener.port}`,
    connections,
    close: async () => {
      for (const c of connections) c.transport.close();
      await Promise.all(connections.map((c) => c.transport.closed));
      await listener.close();
    },
  };
}
