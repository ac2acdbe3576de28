/**
 * A small fake IPC server for bridge tests: it answers Register with a successful RegisterAck
 * (or a failed one for names in `refuseNames`), echoes Request/Read/Write as successful
 * Responses (data = the request's data), answers Subscribe/Unsubscribe with success and
 * Heartbeats with the same transaction id, and sends nothing else unless a test injects it.
 * Every message it receives is recorded, so a test can prove what the bridge did NOT relay.
 */
import {
  CommandMessage,
  ControlType,
  FrameDecoder,
  IpcError,
  MessageType,
  encodeFrame,
  type CommandMessageWire,
} from 'autocore-ipc';
import { listenTcp, type TcpListener, type TcpTransport } from 'autocore-ipc/node';

/** One connection the fake server accepted (one browser behind the bridge). */
export interface FakeUpstreamConnection {
  readonly transport: TcpTransport;
  readonly received: CommandMessage[];
  /** Set once it registered. */
  name: string | undefined;
  /** Sends a message to this connection. */
  send(msg: CommandMessage): void;
  /** Sends raw bytes (for fault tests). */
  sendRaw(bytes: Uint8Array): void;
  /** Resets the TCP connection (RST), as a crashed server would. */
  reset(): void;
}

/** Options of {@link startFakeUpstream}. */
export interface FakeUpstreamOptions {
  /** Names refused with a failed RegisterAck (then the connection is closed). */
  refuseNames?: string[];
  /** Max payload announced in RegisterAck. Default 4 MiB. */
  maxPayload?: number;
}

/** A running fake upstream server. */
export interface FakeUpstream {
  readonly address: string;
  readonly port: number;
  readonly connections: FakeUpstreamConnection[];
  /** Every message received, from every connection, in order. */
  readonly received: CommandMessage[];
  /** Resolves with the first received message (past or future) that matches. */
  waitFor(pred: (m: CommandMessage) => boolean, timeoutMs?: number): Promise<CommandMessage>;
  /** Stops reading from every connection (its TCP window fills up), until `resumeReading`. */
  pauseReading(): void;
  resumeReading(): void;
  /** Resolves with the connection that registered `name`. */
  connectionOf(name: string, timeoutMs?: number): Promise<FakeUpstreamConnection>;
  close(): Promise<void>;
}

/** Starts a fake upstream on 127.0.0.1, port 0. */
export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const connections: FakeUpstreamConnection[] = [];
  const received: CommandMessage[] = [];
  const waiters = new Set<() => void>();
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };

  const serve = (transport: TcpTransport): void => {
    const conn: FakeUpstreamConnection = {
      transport,
      received: [],
      name: undefined,
      send: (msg) => transport.send(encodeFrame(msg)),
      sendRaw: (bytes) => transport.send(bytes),
      // Test-only reach into the transport's socket: a reset cannot be made through the contract.
      reset: () =>
        (transport as unknown as { socket: { resetAndDestroy(): void } }).socket.resetAndDestroy(),
    };
    connections.push(conn);
    notify();
    const decoder = new FrameDecoder();
    void (async () => {
      for await (const chunk of transport) {
        if (gate !== undefined) await gate.promise;
        for (const item of decoder.push(chunk as Uint8Array)) {
          if (item instanceof IpcError) {
            if (item.code === 'ERR_FRAMING') transport.close(item);
            continue;
          }
          conn.received.push(item);
          received.push(item);
          answer(conn, item);
          notify();
        }
      }
    })();
  };

  const answer = (conn: FakeUpstreamConnection, msg: CommandMessage): void => {
    switch (msg.messageType) {
      case MessageType.Control: {
        if (msg.controlType !== ControlType.Register) return;
        const name = (msg.data as { name?: string } | null)?.name ?? '';
        const ack = new CommandMessage({
          transactionId: msg.transactionId,
          topic: msg.topic,
          messageType: MessageType.Control,
        });
        ack.controlType = ControlType.RegisterAck;
        if (options.refuseNames?.includes(name)) {
          ack.success = false;
          ack.errorMessage = `Name already registered: ${name}`;
          conn.send(ack);
          void conn.transport.end();
          return;
        }
        ack.success = true;
        ack.data = {
          server: 'fake-upstream',
          version: '0.0.0',
          heartbeat_ms: 10_000,
          max_payload: options.maxPayload ?? 4 * 1024 * 1024,
        };
        conn.name = name;
        conn.send(ack);
        return;
      }
      case MessageType.Request:
      case MessageType.Read:
      case MessageType.Write:
        conn.send(msg.intoResponse(msg.data));
        return;
      case MessageType.Subscribe:
      case MessageType.Unsubscribe:
        conn.send(msg.intoResponse(null));
        return;
      case MessageType.Heartbeat:
        if (msg.transactionId !== 0) conn.send(CommandMessage.heartbeat(msg.transactionId));
        return;
      default:
        return;
    }
  };

  const listener: TcpListener = await listenTcp({ host: '127.0.0.1', port: 0 }, serve);

  const waitUntil = <T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`fake upstream: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    address: `127.0.0.1:${listener.port}`,
    port: listener.port,
    connections,
    received,
    pauseReading: () => {
      if (gate !== undefined) return;
      let open!: () => void;
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
    },
    resumeReading: () => {
      const g = gate;
      gate = undefined;
      g?.open();
    },
    waitFor: (pred, timeoutMs = 5000) =>
      waitUntil(() => received.find(pred), timeoutMs, 'a message'),
    connectionOf: (name, timeoutMs = 5000) =>
      waitUntil(() => connections.find((c) => c.name === name), timeoutMs, `module ${name}`),
    close: async () => {
      gate?.open();
      for (const c of connections) c.transport.close();
      await Promise.all(connections.map((c) => c.transport.closed));
      await listener.close();
    },
  };
}

/** The snake_case wire form of a message, for assertions. */
export function wire(msg: CommandMessage): CommandMessageWire {
  return msg.toJSON();
}
