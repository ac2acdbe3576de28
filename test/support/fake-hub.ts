/**
 * A small scripted hub for client tests and fault injection: it listens on 127.0.0.1 (port 0 by
 * default), answers Register with a RegisterAck (or refuses), sends Control/Initialize, echoes
 * requests (or answers with a per-test function, or never), answers Subscribe/Unsubscribe, and
 * can drop, mute (partition: the socket stays open, nothing passes) or stop at any moment.
 * It is built on listenTcp + MessageConnection, so it speaks the real wire format.
 */
import { IpcError } from '../../src/core/errors.ts';
import { nextTransactionId } from '../../src/core/ids.ts';
import {
  CommandMessage,
  ControlType,
  MessageType,
  isRequestType,
  type ControlType as ControlTypeValue,
  type ModuleRegistration,
  type RegisterAckData,
} from '../../src/core/message.ts';
import { MessageConnection } from '../../src/message-connection.ts';
import { listenTcp, type TcpListener } from '../../src/transports/tcp.node.ts';
import type { Transport } from '../../src/transports/transport.ts';

/** Answers one Request/Read/Write; `undefined` leaves it unanswered. */
export type FakeRequestHandler = (
  msg: CommandMessage,
  peer: FakePeer,
) => CommandMessage | undefined | Promise<CommandMessage | undefined>;

/** Options of {@link FakeHub.start}. */
export interface FakeHubOptions {
  /** Port to listen on; 0 picks a free one (reuse `hub.port` to "restart" on the same port). Default 0. */
  port?: number;
  /** Refuse registrations: a reason string, or a function returning one (undefined accepts). Default: accept. */
  refuse?: string | ((reg: ModuleRegistration) => string | undefined);
  /** Fields of the RegisterAck data. Default heartbeat_ms 10000, max_payload 4 MiB. */
  ack?: Partial<RegisterAckData>;
  /** Send Control/Initialize after a successful RegisterAck. Default true. */
  sendInitialize?: boolean;
  /** Answers Request/Read/Write. Default: echo (`{ echo: data }`, same topic). */
  onRequest?: FakeRequestHandler;
  /** Refuse Subscribe of a pattern: return the reason. Default: accept. */
  refuseSubscribe?: (pattern: string) => string | undefined;
  /** Answer the module's Control/Finalize. Default true. */
  answerFinalize?: boolean;
}

/**
 * Wraps a transport so a test can cut it silently: once muted, nothing is delivered in either
 * direction but the socket stays open (a network partition, seen from both ends).
 */
class MutableTransport implements Transport {
  muted = false;
  constructor(readonly inner: Transport) {}
  get framing() {
    return this.inner.framing;
  }
  get remoteAddress() {
    return this.inner.remoteAddress;
  }
  get bufferedAmount() {
    return this.inner.bufferedAmount;
  }
  get isClosed() {
    return this.inner.isClosed;
  }
  get closed() {
    return this.inner.closed;
  }
  send(data: Uint8Array | string): void {
    if (!this.muted) this.inner.send(data);
  }
  end(): Promise<void> {
    return this.inner.end();
  }
  close(error?: IpcError): void {
    this.inner.close(error);
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array | string> {
    for await (const unit of this.inner) if (!this.muted) yield unit;
  }
}

/** One module connection as the fake hub sees it. */
export class FakePeer {
  readonly conn: MessageConnection;
  readonly transport: MutableTransport;
  /** Every message received (Heartbeats excluded: MessageConnection answers them). */
  readonly received: CommandMessage[] = [];
  /** Patterns subscribed on this connection. */
  readonly subscriptions = new Set<string>();
  registration: ModuleRegistration | undefined;
  /** Resolves with the module's answer to Initialize. */
  readonly initialized: Promise<CommandMessage>;
  /** Resolves when the connection closes. */
  readonly closed: Promise<IpcError | undefined>;
  private readonly pending = new Map<number, (m: CommandMessage) => void>();
  private readonly waiters: {
    pred: (m: CommandMessage) => boolean;
    resolve: (m: CommandMessage) => void;
  }[] = [];
  private resolveInitialized!: (m: CommandMessage) => void;
  private resolveClosed!: (e: IpcError | undefined) => void;

  constructor(
    readonly hub: FakeHub,
    transport: Transport,
  ) {
    this.transport = new MutableTransport(transport);
    this.initialized = new Promise((r) => (this.resolveInitialized = r));
    this.closed = new Promise((r) => (this.resolveClosed = r));
    // heartbeatMs 0: the fake never drops the module for silence; it still answers Heartbeats.
    this.conn = new MessageConnection(
      this.transport,
      { heartbeatMs: 0 },
      {
        onMessage: (msg) => this.onMessage(msg),
        onError: () => {},
        onClose: (e) => {
          for (const [, resolve] of this.pending) {
            resolve(
              new CommandMessage({
                topic: '',
                messageType: MessageType.Response,
                errorMessage: 'closed',
              }),
            );
          }
          this.pending.clear();
          this.resolveClosed(e);
        },
      },
    );
  }

  get name(): string | undefined {
    return this.registration?.name;
  }

  get isClosed(): boolean {
    return this.conn.isClosed;
  }

  send(msg: CommandMessage): void {
    this.conn.send(msg);
  }

  /** Sends a request-like message to the module and resolves with its Response. */
  call(msg: CommandMessage, timeoutMs = 2000): Promise<CommandMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(msg.transactionId);
        reject(new Error(`fake hub: no answer to ${msg.topic} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(msg.transactionId, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.send(msg);
    });
  }

  /** A Request to the module. */
  request(topic: string, data: unknown = null): Promise<CommandMessage> {
    return this.call(CommandMessage.request(topic, data));
  }

  /** A Control message to the module (topic = its name). */
  control(type: ControlTypeValue, data: unknown = null): Promise<CommandMessage> {
    return this.call(CommandMessage.control(type, this.name ?? '', data));
  }

  broadcast(topic: string, data: unknown): void {
    this.send(CommandMessage.broadcast(topic, data));
  }

  /** Takes the first received message matching `pred` (already received or still to come). */
  waitFor(pred: (m: CommandMessage) => boolean, timeoutMs = 2000): Promise<CommandMessage> {
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        pred,
        resolve: (m: CommandMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`fake hub: expected message not received within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Cuts the link silently: nothing passes any more, the socket stays open. */
  mute(): void {
    this.transport.muted = true;
  }

  /** Destroys the connection at once (like a crashed server). */
  drop(): void {
    this.conn.close();
  }

  private onMessage(msg: CommandMessage): void {
    this.received.push(msg);
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      if (w.pred(msg)) {
        this.waiters.splice(i, 1);
        i--;
        w.resolve(msg);
      }
    }
    const o = this.hub.options;
    if (msg.messageType === MessageType.Response) {
      const resolve = this.pending.get(msg.transactionId);
      if (resolve) {
        this.pending.delete(msg.transactionId);
        resolve(msg);
      }
      return;
    }
    if (msg.messageType === MessageType.Control) {
      if (msg.controlType === ControlType.Register) return this.onRegister(msg);
      if (msg.controlType === ControlType.Finalize) {
        if (o.answerFinalize === false) return;
        this.send(msg.intoResponse(null));
        void this.conn.end();
        return;
      }
      // Module-sent Configure/Status: refused like the real server.
      this.send(msg.intoErrorResponse('Not supported by the server'));
      return;
    }
    if (msg.messageType === MessageType.Subscribe) {
      const reason = o.refuseSubscribe?.(msg.topic);
      if (reason !== undefined) {
        this.send(msg.intoErrorResponse(reason));
        return;
      }
      this.subscriptions.add(msg.topic);
      this.send(msg.intoResponse(null));
      return;
    }
    if (msg.messageType === MessageType.Unsubscribe) {
      if (!this.subscriptions.delete(msg.topic))
        this.send(msg.intoErrorResponse(`Not subscribed: ${msg.topic}`));
      else this.send(msg.intoResponse(null));
      return;
    }
    if (msg.messageType === MessageType.Broadcast) {
      this.hub.forward(msg, this);
      return;
    }
    if (isRequestType(msg.messageType)) {
      const handler = o.onRequest ?? ((m: CommandMessage) => m.intoResponse({ echo: m.data }));
      void Promise.resolve(handler(msg, this)).then((reply) => {
        if (reply && !this.conn.isClosed) this.send(reply);
      });
    }
  }

  private onRegister(msg: CommandMessage): void {
    const o = this.hub.options;
    const reg = msg.data as ModuleRegistration;
    const reason = typeof o.refuse === 'function' ? o.refuse(reg) : o.refuse;
    const ack = new CommandMessage({
      transactionId: msg.transactionId,
      topic: msg.topic,
      messageType: MessageType.Control,
      success: reason === undefined,
      errorMessage: reason ?? '',
      data:
        reason === undefined
          ? {
              server: 'fake-hub',
              version: '0.0.0',
              heartbeat_ms: 10_000,
              max_payload: 4 * 1024 * 1024,
              ...o.ack,
            }
          : null,
    });
    ack.controlType = ControlType.RegisterAck;
    this.send(ack);
    if (reason !== undefined) {
      void this.conn.end();
      return;
    }
    this.registration = reg;
    this.hub.registered(this);
    if (o.sendInitialize === false) return;
    void this.control(ControlType.Initialize).then(
      (answer) => this.resolveInitialized(answer),
      () => {},
    );
  }
}

/**
 * The fake hub. Dispose it with `await hub.close()` (or `await using`).
 *
 * @example
 * ```ts
 * await using hub = await FakeHub.start({ onRequest: (m) => m.intoResponse(42) });
 * const client = await IpcClient.connect(tcpConnector(hub.address), handler);
 * const peer = await hub.peer('press1');
 * ```
 */
export class FakeHub implements AsyncDisposable {
  readonly peers: FakePeer[] = [];
  /** Every connection accepted (registered or not). */
  connections = 0;
  private listener: TcpListener | undefined;
  private readonly peerWaiters: { name: string; resolve: (p: FakePeer) => void }[] = [];

  private constructor(public options: FakeHubOptions) {}

  static async start(options: FakeHubOptions = {}): Promise<FakeHub> {
    const hub = new FakeHub(options);
    await hub.listen(options.port ?? 0);
    return hub;
  }

  private portValue = 0;

  get port(): number {
    return this.portValue;
  }

  get address(): string {
    return `127.0.0.1:${this.portValue}`;
  }

  get isListening(): boolean {
    return this.listener !== undefined;
  }

  /** Starts listening again (on the same port unless told otherwise). */
  async listen(port = this.portValue): Promise<void> {
    if (this.listener) return;
    this.listener = await listenTcp({ host: '127.0.0.1', port }, (transport) => {
      this.connections++;
      this.peers.push(new FakePeer(this, transport));
    });
    this.portValue = this.listener.port;
  }

  /** The newest registered, still open peer called `name`, waiting for it if needed. */
  peer(name: string, timeoutMs = 5000): Promise<FakePeer> {
    const found = [...this.peers].reverse().find((p) => p.name === name && !p.isClosed);
    if (found) return Promise.resolve(found);
    return this.nextPeer(name, timeoutMs);
  }

  /** The next peer that registers as `name` from now on. */
  nextPeer(name: string, timeoutMs = 5000): Promise<FakePeer> {
    return new Promise((resolve, reject) => {
      const waiter = {
        name,
        resolve: (p: FakePeer) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        const i = this.peerWaiters.indexOf(waiter);
        if (i >= 0) this.peerWaiters.splice(i, 1);
        reject(new Error(`fake hub: ${name} did not register within ${timeoutMs} ms`));
      }, timeoutMs);
      this.peerWaiters.push(waiter);
    });
  }

  /** @internal */
  registered(peer: FakePeer): void {
    for (let i = 0; i < this.peerWaiters.length; i++) {
      const w = this.peerWaiters[i]!;
      if (w.name === peer.name) {
        this.peerWaiters.splice(i, 1);
        i--;
        w.resolve(peer);
      }
    }
  }

  /** @internal Delivers a module's Broadcast to the other subscribed peers (exact patterns only). */
  forward(msg: CommandMessage, from: FakePeer): void {
    for (const p of this.peers) {
      if (p !== from && !p.isClosed && p.subscriptions.has(msg.topic)) p.send(msg);
    }
  }

  /** Destroys every open connection (the listener keeps accepting). */
  dropAll(): void {
    for (const p of this.peers) if (!p.isClosed) p.drop();
  }

  /** Stops listening and destroys every connection: the "server" is down. */
  async stop(): Promise<void> {
    const listener = this.listener;
    this.listener = undefined;
    this.dropAll();
    await Promise.all(this.peers.map((p) => p.closed));
    await listener?.close();
  }

  async close(): Promise<void> {
    await this.stop();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A fresh transaction id for hand-built messages. */
export function freshId(): number {
  return nextTransactionId();
}
