/**
 * A minimal protocol peer for integration tests: a TCP connection that sends CommandMessages as
 * frames and collects what comes back, with no client logic in between (no retries, no id
 * bookkeeping), so server tests do not depend on IpcClient.
 */
import { IpcError } from '../../src/core/errors.ts';
import { FrameDecoder } from '../../src/core/frame-decoder.ts';
import { encodeFrame } from '../../src/core/frame.ts';
import { nextTransactionId } from '../../src/core/ids.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { IpcServer, type IpcServerOptions } from '../../src/server/ipc-server.node.ts';
import { connectTcp, type TcpTransport } from '../../src/transports/tcp.node.ts';

/** Options of {@link RawPeer.connect}. */
export interface RawPeerOptions {
  /** Answer Heartbeats from the server (like a live peer). Default true. */
  answerHeartbeats?: boolean;
  /** Answer Control/Initialize with a successful Response. Default true. */
  answerInitialize?: boolean;
  /** Answer Control/Finalize with a successful Response. Default true. */
  answerFinalize?: boolean;
}

/** Answers one Request/Read/Write; `undefined` leaves it unanswered. */
export type ServeHandler = (msg: CommandMessage) => CommandMessage | undefined;

const BIG = 64 * 1024 * 1024;

/**
 * A raw test peer. Every decoded message lands in `inbox` (Heartbeats and lifecycle Controls
 * too, after any automatic answer); `expectMessage` takes the first one matching a predicate,
 * waiting for it if needed.
 *
 * @example
 * ```ts
 * const peer = await RawPeer.connect(server.address);
 * await peer.register('press1');
 * const reply = await peer.call(CommandMessage.request('system.ping'));
 * await peer.close();
 * ```
 */
export class RawPeer {
  readonly transport: TcpTransport;
  readonly inbox: CommandMessage[] = [];
  /** Decoding faults seen on what the server sent (should stay empty). */
  readonly decodeErrors: IpcError[] = [];
  /** Requests handled by `serve`. */
  readonly served: CommandMessage[] = [];
  private readonly decoder = new FrameDecoder({ maxPayload: BIG });
  private readonly options: Required<RawPeerOptions>;
  private waiters: Array<{
    predicate: (m: CommandMessage) => boolean;
    resolve: (m: CommandMessage) => void;
  }> = [];
  private handler: ServeHandler | undefined;
  private paused: Promise<void> | undefined;
  private resume: (() => void) | undefined;

  private constructor(transport: TcpTransport, options: RawPeerOptions) {
    this.transport = transport;
    this.options = {
      answerHeartbeats: options.answerHeartbeats ?? true,
      answerInitialize: options.answerInitialize ?? true,
      answerFinalize: options.answerFinalize ?? true,
    };
    void this.readLoop();
  }

  /** Connects to `address` (`host:port`). */
  static async connect(address: string, options: RawPeerOptions = {}): Promise<RawPeer> {
    const transport = await connectTcp(address, { timeoutMs: 2000 });
    return new RawPeer(transport, options);
  }

  get isClosed(): boolean {
    return this.transport.isClosed;
  }

  /** Sends a message as one frame. */
  send(msg: CommandMessage): void {
    this.transport.send(encodeFrame(msg, BIG));
  }

  /** Sends raw bytes. */
  sendBytes(bytes: Uint8Array): void {
    this.transport.send(bytes);
  }

  /** Takes the first message (already received or still to come) that matches. */
  expectMessage(
    predicate: (m: CommandMessage) => boolean,
    timeoutMs = 2000,
  ): Promise<CommandMessage> {
    const i = this.inbox.findIndex(predicate);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as CommandMessage);
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: (m: CommandMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `expected message not received within ${timeoutMs} ms; inbox: ${this.describeInbox()}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Resolves if no matching message arrives within `ms`, rejects if one does. */
  async expectNoMessage(predicate: (m: CommandMessage) => boolean, ms: number): Promise<void> {
    const got = await this.expectMessage(predicate, ms).then(
      (m) => m,
      () => undefined,
    );
    if (got !== undefined) throw new Error(`unexpected message: ${JSON.stringify(got)}`);
  }

  /** The Response with transaction id `txid`. */
  response(txid: number, timeoutMs = 2000): Promise<CommandMessage> {
    return this.expectMessage(
      (m) => m.messageType === MessageType.Response && m.transactionId === txid,
      timeoutMs,
    );
  }

  /** Sends `msg` and waits for its Response. */
  call(msg: CommandMessage, timeoutMs = 2000): Promise<CommandMessage> {
    const reply = this.response(msg.transactionId, timeoutMs);
    this.send(msg);
    return reply;
  }

  /** Sends Control/Register and resolves with the RegisterAck (whatever its outcome). */
  register(
    name: string,
    extra: { version?: string; capabilities?: string[]; token?: string } = {},
    timeoutMs = 2000,
  ): Promise<CommandMessage> {
    const msg = CommandMessage.control(ControlType.Register, name, {
      name,
      version: extra.version ?? '1.0.0',
      capabilities: extra.capabilities ?? [],
      ...(extra.token === undefined ? {} : { token: extra.token }),
    });
    const ack = this.expectMessage(
      (m) =>
        m.messageType === MessageType.Control &&
        m.controlType === ControlType.RegisterAck &&
        m.transactionId === msg.transactionId,
      timeoutMs,
    );
    this.send(msg);
    return ack;
  }

  /** Registers and waits for (and, by default, has answered) Control/Initialize. */
  async registerReady(
    name: string,
    extra: { version?: string; capabilities?: string[]; token?: string } = {},
  ): Promise<void> {
    const ack = await this.register(name, extra);
    if (!ack.success) throw new Error(`registration of ${name} refused: ${ack.errorMessage}`);
    await this.expectMessage(
      (m) => m.messageType === MessageType.Control && m.controlType === ControlType.Initialize,
    );
    // Let the server read the Initialize answer before the test goes on.
    await this.call(CommandMessage.request('system.ping'));
  }

  /** Answers every Request/Read/Write from now on with `handler`. */
  serve(handler: ServeHandler): void {
    this.handler = handler;
  }

  /** Subscribes to `pattern`; resolves with the server's answer. */
  subscribe(pattern: string): Promise<CommandMessage> {
    return this.call(CommandMessage.subscribe(pattern));
  }

  /** Stops taking data off the socket (TCP backpressure reaches the server). */
  pauseReading(): void {
    this.paused ??= new Promise((resolve) => (this.resume = resolve));
  }

  resumeReading(): void {
    this.resume?.();
    this.paused = undefined;
    this.resume = undefined;
  }

  /** Resolves with the close reason when the connection closes; rejects after `timeoutMs`. */
  waitClosed(timeoutMs = 2000): Promise<IpcError | undefined> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`connection still open after ${timeoutMs} ms`)),
        timeoutMs,
      );
      void this.transport.closed.then((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
  }

  /** Closes at once. */
  async close(): Promise<void> {
    this.resumeReading();
    this.transport.close();
    await this.transport.closed;
  }

  private describeInbox(): string {
    const last = this.inbox.slice(-5).map((m) => JSON.stringify(m));
    return `${this.inbox.length} message(s)${last.length > 0 ? `, last: ${last.join(' ')}` : ''}`;
  }

  private async readLoop(): Promise<void> {
    for await (const chunk of this.transport) {
      if (this.paused !== undefined) await this.paused;
      for (const item of this.decoder.push(chunk)) {
        if (item instanceof IpcError) this.decodeErrors.push(item);
        else this.receive(item);
      }
    }
  }

  private receive(msg: CommandMessage): void {
    const o = this.options;
    if (
      msg.messageType === MessageType.Heartbeat &&
      o.answerHeartbeats &&
      msg.transactionId !== 0
    ) {
      this.send(CommandMessage.heartbeat(msg.transactionId));
    } else if (msg.messageType === MessageType.Control) {
      if (
        (msg.controlType === ControlType.Initialize && o.answerInitialize) ||
        (msg.controlType === ControlType.Finalize && o.answerFinalize)
      ) {
        this.send(msg.intoResponse(null));
      }
    } else if (
      this.handler !== undefined &&
      (msg.messageType === MessageType.Request ||
        msg.messageType === MessageType.Read ||
        msg.messageType === MessageType.Write)
    ) {
      this.served.push(msg);
      const reply = this.handler(msg);
      if (reply !== undefined) this.send(reply);
      return;
    }
    const i = this.waiters.findIndex((w) => w.predicate(msg));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      w?.resolve(msg);
      return;
    }
    this.inbox.push(msg);
  }
}

/** A fresh transaction id (for hand-built messages). */
export function txid(): number {
  return nextTransactionId();
}

/**
 * Owns the servers and peers of one test and disposes of them: call `dispose()` from
 * `afterEach`.
 *
 * @example
 * ```ts
 * const bed = new TestBed();
 * afterEach(() => bed.dispose());
 * const server = await bed.server({ requestTimeoutMs: 200 });
 * const peer = await bed.peer(server);
 * ```
 */
export class TestBed {
  private readonly servers: IpcServer[] = [];
  private readonly peers: RawPeer[] = [];

  /** A server on 127.0.0.1, port 0, listening. */
  async server(options: IpcServerOptions = {}): Promise<IpcServer> {
    const server = await IpcServer.listen({ host: '127.0.0.1', port: 0, ...options });
    this.servers.push(server);
    return server;
  }

  /** A raw peer connected to `server`. */
  async peer(server: IpcServer, options: RawPeerOptions = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(server.address, options);
    this.peers.push(peer);
    return peer;
  }

  /** A peer registered as `name` whose Initialize was answered. */
  async module(
    server: IpcServer,
    name: string,
    extra: { capabilities?: string[]; token?: string } = {},
    options: RawPeerOptions = {},
  ): Promise<RawPeer> {
    const peer = await this.peer(server, options);
    await peer.registerReady(name, extra);
    return peer;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.peers.splice(0).map((p) => p.close()));
    await Promise.all(this.servers.splice(0).map((s) => s.close({ timeoutMs: 200 })));
  }
}
