/**
 * The hub of autocore-ipc (mechutil's `IpcServer` without the listening socket): it accepts
 * connected transports, registers modules, routes requests by domain, forwards broadcasts to
 * subscribers and runs the module lifecycle of PROTOCOL.md sections 4, 5 and 8. It never touches
 * a socket itself, so any {@link Transport} works: TCP (`IpcServer` in the Node entry adds the
 * listener), or a transport a bridge hands over.
 */
import mittImport, { type Emitter, type Handler, type WildcardHandler } from 'mitt';
import { IpcError } from '../core/errors.ts';
import {
  DEFAULT_MAX_PAYLOAD,
  PRE_REGISTRATION_MAX_PAYLOAD,
  encodeFrame,
  patchScannedTransactionId,
  patchTransactionId,
  withTransactionId,
} from '../core/frame.ts';
import { scanEnvelope, type ScannedEnvelope } from '../core/frame-scan.ts';
import {
  CommandMessage,
  ControlType,
  DEFAULT_MAX_DEPTH,
  MessageType,
  SYSTEM_DOMAIN,
  controlTypeName,
  domainOf,
  expectsReply,
  isRequestType,
  messageTypeName,
  parseRegistration,
  type ModuleRegistration,
  type RegisterAckData,
} from '../core/message.ts';
import { IdMap } from '../core/id-map.ts';
import { TopicTrie } from '../core/topic-trie.ts';
import {
  MessageConnection,
  type MessageConnectionHandlers,
  type MessageConnectionOptions,
} from '../message-connection.ts';
import type { Transport } from '../transports/transport.ts';
import { DeadlineQueue } from './deadline-queue.ts';
import { redactError } from './redact.ts';
import type { IpcServerEvents } from './server-events.ts';
import { SDK_VERSION } from './version.ts';

/**
 * Decides whether a registration may proceed. Gets the Register data (with its `token`, which
 * must never be logged) and the peer's address; returns or resolves `true` to accept. A `false`,
 * a throw or a rejection refuses the module with `"Authentication failed"`.
 *
 * @example
 * ```ts
 * const authenticate: Authenticator = (reg, peer) => peer.remoteAddress.startsWith('127.') && reg.name !== 'root';
 * ```
 */
export type Authenticator = (
  registration: ModuleRegistration,
  peer: { remoteAddress: string },
) => boolean | Promise<boolean>;

/**
 * Options of {@link IpcHub}: protocol limits and timings, all optional.
 *
 * @example
 * ```ts
 * const hub = new IpcHub({ requestTimeoutMs: 2000, maxPayload: 1024 * 1024 });
 * ```
 */
export interface IpcHubOptions {
  /** Called on every Register before it is accepted. Default: none (every valid name is accepted). */
  authenticate?: Authenticator;
  /** Connections served at once; more are refused at accept. Default 1024. */
  maxConnections?: number;
  /** Largest payload in bytes, in and out, once registered (sent as `max_payload`). Default 4 MiB. */
  maxPayload?: number;
  /** Largest inbound payload before a successful RegisterAck. Default 64 KiB (or `maxPayload` when that is smaller). */
  preRegistrationMaxPayload?: number;
  /** A connection that has not registered this long after it was accepted is closed. Default 5000 ms. */
  registrationTimeoutMs?: number;
  /** A module that has not answered Control/Initialize successfully within this long is closed. Default 10 000 ms. */
  initializeTimeoutMs?: number;
  /** All bytes of a frame must arrive within this long of its first byte. Default 30 000 ms. */
  frameTimeoutMs?: number;
  /** Heartbeat interval (sent as `heartbeat_ms`); a peer silent for 3 intervals is closed. 0 disables. Default 10 000 ms. */
  heartbeatMs?: number;
  /** Deadline of a forwarded request; then the asker gets a Timeout failure. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Unanswered requests one connection may have routed through the hub. Default 1024. */
  maxInflightPerConnection?: number;
  /** Subscription patterns one connection may hold. Default 1024. */
  maxSubscriptionsPerConnection?: number;
  /** Longest wait in `close()` for modules to answer Control/Finalize, and for connections to flush. Default 2000 ms. */
  finalizeTimeoutMs?: number;
  /** `server` member of RegisterAck. Default `'autocore-ipc'`. */
  serverName?: string;
  /** `version` member of RegisterAck. Default: this package's version. */
  version?: string;
}

/**
 * A registered module as the hub sees it (mechutil's `ModuleConnection` info).
 *
 * @example
 * ```ts
 * for (const m of server.modules()) console.log(m.name, m.version, m.capabilities, m.initialized);
 * ```
 */
export interface ModuleConnection extends ModuleRegistration {
  /** Where the module connects from. */
  remoteAddress: string;
  /** True once it answered Control/Initialize successfully (requests are routed to it). */
  initialized: boolean;
}

/** Options of `close()`. */
export interface HubCloseOptions {
  /** Stop waiting for modules and connections at once and close them hard. */
  signal?: AbortSignal;
  /** Bound of each wait (Finalize answers, then flushing). Default: `finalizeTimeoutMs`. */
  timeoutMs?: number;
}

/** Resolved hub settings. */
interface HubSettings {
  readonly authenticate: Authenticator | undefined;
  readonly maxConnections: number;
  readonly maxPayload: number;
  readonly preRegistrationMaxPayload: number;
  readonly registrationTimeoutMs: number;
  readonly initializeTimeoutMs: number;
  readonly frameTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly requestTimeoutMs: number;
  readonly maxInflightPerConnection: number;
  readonly maxSubscriptionsPerConnection: number;
  readonly finalizeTimeoutMs: number;
  readonly serverName: string;
  readonly version: string;
}

// Connection states, in order: a peer only moves forward.
const REGISTERING = 0;
const AUTHENTICATING = 1;
const INITIALIZING = 2;
const READY = 3;
/** Retired by the hub (refused, failed, finalized): closing, routes nothing. */
const LEAVING = 4;
const CLOSED = 5;
type PeerState = 0 | 1 | 2 | 3 | 4 | 5;

// mitt's typings are CommonJS-shaped under NodeNext resolution while Node and bundlers load its
// ES build, whose default export is the factory itself; accept either shape.
const mitt = ((mittImport as unknown as { default?: unknown }).default ??
  mittImport) as typeof mittImport.default;

const U32_MAX = 0xffff_ffff;
const SYSTEM_COMMANDS = ['system.ping', 'system.get_domains', 'system.get_catalog'] as const;

/** One accepted connection. */
class Peer {
  conn!: MessageConnection;
  state: PeerState = REGISTERING;
  /** Reserved from authentication on; the module's domain. */
  name: string | undefined = undefined;
  registration: ModuleRegistration | undefined = undefined;
  /** Requests forwarded to this peer, by the hub-assigned transaction id. */
  readonly pending = new IdMap<Pending>();
  /** Requests for this peer that wait for its Initialize answer. */
  held: Pending[] = [];
  /** Requests this peer asked that are not answered yet. */
  inflight = 0;
  readonly subscriptions = new Set<string>();
  /** Last hub transaction id issued towards this peer. */
  lastTxid = 0;
  initTxid = 0;
  finalizeTxid = 0;
  /** Broadcast number last delivered here (a connection gets a broadcast once). */
  epoch = 0;
  retired = false;
  /** Why the hub closed it, when the transport itself reports a clean close. */
  closeReason: IpcError | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  lingerTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  readonly remoteAddress: string;

  constructor(remoteAddress: string) {
    this.remoteAddress = remoteAddress;
  }

  /** False once the asker can no longer be answered. */
  get reachable(): boolean {
    return this.state !== CLOSED && !this.conn.isClosed;
  }
}

/**
 * A module's connection: frames its `relay` handles by their bytes alone skip decoding (see
 * IpcHub.relay); the rest is decoded and delivered as on any connection.
 */
class RelayConnection extends MessageConnection {
  private readonly relay: (type: number, payload: Uint8Array, frame: Uint8Array) => boolean;

  constructor(
    transport: Transport,
    options: MessageConnectionOptions,
    handlers: MessageConnectionHandlers,
    relay: (type: number, payload: Uint8Array, frame: Uint8Array) => boolean,
  ) {
    super(transport, options, handlers);
    // Set after the base constructor has started reading: safe, as no frame is handled before
    // the first await of its read loop.
    this.relay = relay;
  }

  protected override receiveFrame(type: number, payload: Uint8Array, frame: Uint8Array): void {
    if (!this.relay(type, payload, frame)) super.receiveFrame(type, payload, frame);
  }
}

/** One routed request, from its arrival to its answer, failure or deadline. */
class Pending {
  done = false;
  /** Transaction id towards the target; 0 while held. */
  hubTxid = 0;
  /** The request, only while held for the target's Initialize. */
  msg: CommandMessage | undefined;

  constructor(
    readonly asker: Peer,
    readonly askerTxid: number,
    readonly target: Peer,
    readonly topic: string,
    readonly deadline: number,
  ) {}
}

function positiveInt(
  options: IpcHubOptions,
  key: keyof IpcHubOptions,
  fallback: number,
  allowZero = false,
): number {
  const v = options[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Invalid option ${key}: expected ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${String(v)}`,
    );
  }
  return v;
}

function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * The message hub: everything of the server but the listening socket. Hand it connected
 * transports with {@link IpcHub.accept}; in Node, `IpcServer` (a subclass) also listens on TCP.
 *
 * - Registration: only Register and Heartbeat before the RegisterAck; then Control/Initialize,
 *   and requests for the module's domain are held until it answers successfully.
 * - Routing: Request/Read/Write go to the module named by the topic's domain with a hub-assigned
 *   transaction id; the Response goes back with the asker's id. Domain `system` is the hub.
 * - Broadcasts go once to every other connection holding a matching subscription, as the same
 *   bytes.
 *
 * @example
 * ```ts
 * const hub = new IpcHub({ requestTimeoutMs: 5000 });
 * hub.on('registered', (m) => console.log('module', m.name));
 * hub.accept(transport); // any connected Transport
 * await hub.close();
 * ```
 */
export class IpcHub {
  /** Lifecycle events (mitt). A throwing listener is reported as an `error` event and never breaks the hub. */
  readonly events: Emitter<IpcServerEvents> = mitt<IpcServerEvents>();
  protected readonly settings: HubSettings;
  private readonly peers = new Set<Peer>();
  private readonly modulesByName = new Map<string, Peer>();
  private readonly subscriptions = new TopicTrie<Peer>();
  private readonly deadlines: DeadlineQueue<Pending>;
  private closing: Promise<void> | undefined;
  // The broadcast being delivered, kept here so delivery needs no closure per message.
  private bcEpoch = 0;
  private bcSender: Peer | undefined;
  private bcMsg: CommandMessage | undefined;
  private bcFrame: Uint8Array | undefined;
  private emitting = false;
  /** The relay path's scan result, reused for every frame. */
  private readonly scanned: ScannedEnvelope = { transactionId: 0, topic: '', messageType: 0 };

  constructor(options: IpcHubOptions = {}) {
    this.settings = {
      authenticate: options.authenticate,
      maxConnections: positiveInt(options, 'maxConnections', 1024),
      maxPayload: positiveInt(options, 'maxPayload', DEFAULT_MAX_PAYLOAD),
      // The default follows a smaller maxPayload down; an explicit larger value is an error below.
      preRegistrationMaxPayload: positiveInt(
        options,
        'preRegistrationMaxPayload',
        Math.min(PRE_REGISTRATION_MAX_PAYLOAD, options.maxPayload ?? DEFAULT_MAX_PAYLOAD),
      ),
      registrationTimeoutMs: positiveInt(options, 'registrationTimeoutMs', 5000),
      initializeTimeoutMs: positiveInt(options, 'initializeTimeoutMs', 10_000),
      frameTimeoutMs: positiveInt(options, 'frameTimeoutMs', 30_000),
      heartbeatMs: positiveInt(options, 'heartbeatMs', 10_000, true),
      requestTimeoutMs: positiveInt(options, 'requestTimeoutMs', 10_000),
      maxInflightPerConnection: positiveInt(options, 'maxInflightPerConnection', 1024),
      maxSubscriptionsPerConnection: positiveInt(options, 'maxSubscriptionsPerConnection', 1024),
      finalizeTimeoutMs: positiveInt(options, 'finalizeTimeoutMs', 2000, true),
      serverName: options.serverName ?? 'autocore-ipc',
      version: options.version ?? SDK_VERSION,
    };
    if (this.settings.preRegistrationMaxPayload > this.settings.maxPayload) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        'Invalid option preRegistrationMaxPayload: larger than maxPayload',
      );
    }
    this.deadlines = new DeadlineQueue<Pending>((p) => this.expire(p));
  }

  /**
   * Subscribes to a lifecycle event (`'*'` for all of them).
   *
   * @example
   * ```ts
   * server.on('disconnected', ({ name, error }) => console.log(name, error?.message));
   * ```
   */
  on<K extends keyof IpcServerEvents>(type: K, handler: Handler<IpcServerEvents[K]>): this;
  on(type: '*', handler: WildcardHandler<IpcServerEvents>): this;
  on(
    type: keyof IpcServerEvents | '*',
    handler: Handler<never> | WildcardHandler<IpcServerEvents>,
  ): this {
    (this.events as unknown as Emitter<Record<string, unknown>>).on(
      type,
      handler as Handler<unknown>,
    );
    return this;
  }

  /**
   * Removes a listener added with {@link IpcHub.on}.
   *
   * @example
   * ```ts
   * server.off('registered', onRegistered);
   * ```
   */
  off<K extends keyof IpcServerEvents>(type: K, handler: Handler<IpcServerEvents[K]>): this;
  off(type: '*', handler: WildcardHandler<IpcServerEvents>): this;
  off(
    type: keyof IpcServerEvents | '*',
    handler: Handler<never> | WildcardHandler<IpcServerEvents>,
  ): this {
    (this.events as unknown as Emitter<Record<string, unknown>>).off(
      type,
      handler as Handler<unknown>,
    );
    return this;
  }

  /** True once `close()` was called. */
  get isClosing(): boolean {
    return this.closing !== undefined;
  }

  /** Connections currently served, registered or not. */
  get connectionCount(): number {
    return this.peers.size;
  }

  /**
   * The registered modules, initialized or still initializing (a copy; tokens are never kept).
   *
   * @example
   * ```ts
   * server.modules().map((m) => m.name); // ['press1', 'hmi']
   * ```
   */
  modules(): ModuleConnection[] {
    const out: ModuleConnection[] = [];
    for (const peer of this.modulesByName.values()) {
      const reg = peer.registration;
      if (reg === undefined || (peer.state !== INITIALIZING && peer.state !== READY)) continue;
      out.push({
        name: reg.name,
        version: reg.version,
        capabilities: [...reg.capabilities],
        remoteAddress: peer.remoteAddress,
        initialized: peer.state === READY,
      });
    }
    return out;
  }

  /**
   * Serves one connected transport: it must register within `registrationTimeoutMs`. Refused
   * (closed at once) when the hub is closing or already serves `maxConnections` connections.
   *
   * @example
   * ```ts
   * hub.accept(await connectSomehow());
   * ```
   */
  accept(transport: Transport): void {
    const remoteAddress = transport.remoteAddress;
    if (this.closing !== undefined || this.peers.size >= this.settings.maxConnections) {
      const err =
        this.closing !== undefined
          ? new IpcError(
              'ERR_SHUTDOWN',
              `connection from ${remoteAddress} refused: the server is closing`,
            )
          : new IpcError(
              'ERR_CONNECTION',
              `connection from ${remoteAddress} refused: ${this.settings.maxConnections} connections already served`,
            );
      transport.close(err);
      this.report(err, remoteAddress);
      return;
    }
    const peer = new Peer(remoteAddress);
    this.peers.add(peer);
    peer.conn = new RelayConnection(
      transport,
      {
        maxPayload: this.settings.preRegistrationMaxPayload,
        peerMaxPayload: this.settings.maxPayload,
        heartbeatMs: this.settings.heartbeatMs,
        frameTimeoutMs: this.settings.frameTimeoutMs,
      },
      {
        onMessage: (msg, frame) => this.onMessage(peer, msg, frame),
        onError: (error) => this.report(error, peer.remoteAddress),
        onClose: (error) => this.onClose(peer, error),
      },
      (type, payload, frame) => this.relay(peer, type, payload, frame),
    );
    peer.timer = unref(
      setTimeout(() => this.registrationExpired(peer), this.settings.registrationTimeoutMs),
    );
    this.emit('connected', { remoteAddress });
  }

  /**
   * Shuts down: refuses new connections, sends Control/Finalize to every module and waits
   * (bounded by `timeoutMs`) for their answers, fails every request still pending with a
   * `"Shutdown"` Response to askers that are still connected, then closes every connection.
   * Resolves when all are closed; calling it again returns the same promise.
   *
   * @example
   * ```ts
   * await server.close({ timeoutMs: 1000 });
   * ```
   */
  close(options: HubCloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options);
    return this.closing;
  }

  /** `await using server = ...` closes it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** Stops accepting new connections (a listener closes here); resolves when it has stopped. */
  protected stopAccepting(): Promise<void> {
    return Promise.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound dispatch

  /**
   * The relay path: a Request/Read/Write, Response or Broadcast whose envelope `scanEnvelope`
   * vouches for is routed by its bytes alone, without decoding the JSON (the receiver decodes
   * it, and the scan has already checked everything the decoder would). Returns false, having
   * changed nothing, whenever the full message is needed (system requests, errors to answer,
   * held requests, an id that does not fit): the frame then takes the ordinary path.
   */
  private relay(peer: Peer, type: number, payload: Uint8Array, frame: Uint8Array): boolean {
    const state = peer.state;
    if (state !== READY && state !== INITIALIZING) return false;
    if (!isRelayed(type)) return false;
    const env = this.scanned;
    if (!scanEnvelope(type, payload, DEFAULT_MAX_DEPTH, env)) return false;
    if (type === MessageType.Response) return this.relayResponse(peer, env.transactionId, frame);
    if (type === MessageType.Broadcast) {
      this.broadcast(peer, env.topic, undefined, frame);
      return true;
    }
    return this.relayRequest(peer, env.transactionId, env.topic, frame);
  }

  private relayRequest(asker: Peer, askerTxid: number, topic: string, frame: Uint8Array): boolean {
    if (askerTxid === 0 || this.closing !== undefined) return false;
    const domain = domainOf(topic);
    const target = this.modulesByName.get(domain);
    if (target === undefined || target.state !== READY || domain === SYSTEM_DOMAIN) return false;
    if (asker.inflight >= this.settings.maxInflightPerConnection) return false;
    const hubTxid = this.allocTxid(target);
    // An id is only ever skipped here, never reused, so a failed patch costs nothing.
    if (!patchScannedTransactionId(frame, hubTxid)) return false;
    const p = this.admit(asker, askerTxid, target, topic);
    try {
      target.conn.sendFrame(frame);
    } catch (e) {
      this.settle(p);
      this.sendFailure(asker, askerTxid, topic, sendFailure(e));
      return true;
    }
    p.hubTxid = hubTxid;
    target.pending.set(hubTxid, p);
    return true;
  }

  private relayResponse(peer: Peer, txid: number, frame: Uint8Array): boolean {
    const p = peer.pending.get(txid);
    // Answers to the hub's own Control messages, and late ones, take the ordinary path.
    if (p === undefined) return false;
    const asker = p.asker;
    if (asker.reachable && !patchScannedTransactionId(frame, p.askerTxid)) return false;
    peer.pending.delete(txid);
    this.settle(p);
    if (!asker.reachable) return true;
    try {
      asker.conn.sendFrame(frame);
    } catch (e) {
      this.sendFailure(asker, p.askerTxid, p.topic, sendFailure(e));
    }
    return true;
  }

  private onMessage(peer: Peer, msg: CommandMessage, frame: Uint8Array | undefined): void {
    const state = peer.state;
    if (state === READY || state === INITIALIZING) {
      switch (msg.messageType) {
        case MessageType.Request:
        case MessageType.Read:
        case MessageType.Write:
          this.route(peer, msg, frame);
          return;
        case MessageType.Response:
          this.onResponse(peer, msg, frame);
          return;
        case MessageType.Broadcast:
          this.broadcast(peer, msg.topic, msg, frame);
          return;
        case MessageType.Subscribe:
          this.subscribe(peer, msg);
          return;
        case MessageType.Unsubscribe:
          this.unsubscribe(peer, msg);
          return;
        case MessageType.Control:
          this.onControl(peer, msg);
          return;
        default:
          return;
      }
    }
    if (state === REGISTERING || state === AUTHENTICATING) this.beforeRegistration(peer, msg);
    // LEAVING / CLOSED: the hub is done with this connection; what it still sends is dropped.
  }

  private beforeRegistration(peer: Peer, msg: CommandMessage): void {
    if (msg.messageType === MessageType.Control && msg.controlType === ControlType.Register) {
      if (peer.state === AUTHENTICATING) {
        this.refuseRegistration(peer, msg, 'Registration already in progress');
      } else {
        this.register(peer, msg);
      }
      return;
    }
    if (expectsReply(msg.messageType) && msg.transactionId !== 0) {
      this.reply(peer, msg.intoErrorResponse('Not registered'));
    } else {
      this.report(
        new IpcError('ERR_INVALID_MESSAGE', `${describeMsg(msg)} before registration dropped`),
        peer.remoteAddress,
      );
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Registration and lifecycle

  private register(peer: Peer, msg: CommandMessage): void {
    if (msg.transactionId === 0) {
      this.dropUnanswerable(peer, msg);
      return;
    }
    if (this.closing !== undefined) {
      this.refuseRegistration(peer, msg, 'Shutdown');
      return;
    }
    let reg: ModuleRegistration;
    try {
      reg = parseRegistration(msg.data);
    } catch (e) {
      this.refuseRegistration(peer, msg, (e as Error).message);
      return;
    }
    if (this.modulesByName.has(reg.name)) {
      this.refuseRegistration(peer, msg, `Name already registered: ${reg.name}`);
      return;
    }
    const authenticate = this.settings.authenticate;
    if (authenticate === undefined) {
      this.completeRegistration(peer, msg, reg);
      return;
    }
    // The name is reserved while the (possibly slow) check runs, so a second module cannot take it.
    peer.state = AUTHENTICATING;
    peer.name = reg.name;
    this.modulesByName.set(reg.name, peer);
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = authenticate(reg, { remoteAddress: peer.remoteAddress });
    } catch (e) {
      this.authenticated(peer, msg, reg, false, e);
      return;
    }
    if (typeof verdict === 'boolean') {
      this.authenticated(peer, msg, reg, verdict, undefined);
    } else {
      Promise.resolve(verdict).then(
        (ok) => this.authenticated(peer, msg, reg, ok === true, undefined),
        (e: unknown) => this.authenticated(peer, msg, reg, false, e),
      );
    }
  }

  private authenticated(
    peer: Peer,
    msg: CommandMessage,
    reg: ModuleRegistration,
    ok: boolean,
    error: unknown,
  ): void {
    if (peer.state !== AUTHENTICATING) return; // closed meanwhile
    if (error !== undefined) {
      // The authenticator's own failure; its message is its own business, the token is not in it.
      this.report(
        new IpcError('ERR_REGISTRATION', `authenticate hook failed for module ${reg.name}`, {
          cause: error,
        }),
        peer.remoteAddress,
      );
    }
    if (!ok) {
      this.refuseRegistration(peer, msg, 'Authentication failed');
      return;
    }
    this.completeRegistration(peer, msg, reg);
  }

  private refuseRegistration(peer: Peer, msg: CommandMessage, reason: string): void {
    const ack = new CommandMessage({
      transactionId: msg.transactionId,
      topic: msg.topic,
      messageType: MessageType.Control,
      controlType: ControlType.RegisterAck,
      success: false,
      errorMessage: reason,
    });
    this.reply(peer, ack);
    const err = new IpcError('ERR_REGISTRATION', `registration refused: ${reason}`);
    this.report(err, peer.remoteAddress);
    this.closePeer(peer, err);
  }

  private completeRegistration(peer: Peer, msg: CommandMessage, reg: ModuleRegistration): void {
    const s = this.settings;
    const registration: ModuleRegistration = {
      name: reg.name,
      version: reg.version,
      capabilities: [...reg.capabilities],
    };
    peer.state = INITIALIZING;
    peer.name = reg.name;
    peer.registration = registration;
    this.modulesByName.set(reg.name, peer);
    clearTimeout(peer.timer);
    peer.conn.inboundMaxPayload = s.maxPayload;
    const data: RegisterAckData = {
      server: s.serverName,
      version: s.version,
      heartbeat_ms: s.heartbeatMs,
      max_payload: s.maxPayload,
    };
    this.reply(
      peer,
      new CommandMessage({
        transactionId: msg.transactionId,
        topic: reg.name,
        messageType: MessageType.Control,
        controlType: ControlType.RegisterAck,
        success: true,
        data,
      }),
    );
    this.emit('registered', {
      name: registration.name,
      version: registration.version,
      capabilities: [...registration.capabilities],
      remoteAddress: peer.remoteAddress,
    });
    // A 'registered' listener may have closed the hub (Finalize sent) or the connection.
    if (this.closing !== undefined || peer.state !== INITIALIZING) return;
    const init = CommandMessage.control(ControlType.Initialize, reg.name, null);
    init.transactionId = peer.initTxid = this.allocTxid(peer);
    this.reply(peer, init);
    peer.timer = unref(setTimeout(() => this.initializeExpired(peer), s.initializeTimeoutMs));
  }

  private registrationExpired(peer: Peer): void {
    if (peer.state !== REGISTERING && peer.state !== AUTHENTICATING) return;
    const err = new IpcError(
      'ERR_TIMEOUT',
      `${peer.remoteAddress} did not register within ${this.settings.registrationTimeoutMs} ms`,
    );
    this.report(err, peer.remoteAddress);
    this.retire(peer);
    peer.conn.close(err);
  }

  private initializeExpired(peer: Peer): void {
    if (peer.state !== INITIALIZING) return;
    const err = new IpcError(
      'ERR_TIMEOUT',
      `module ${peer.name} did not answer Initialize within ${this.settings.initializeTimeoutMs} ms`,
    );
    this.report(err, peer.remoteAddress);
    this.closePeer(peer, err);
  }

  private onInitialized(peer: Peer, msg: CommandMessage): void {
    peer.initTxid = 0;
    clearTimeout(peer.timer);
    peer.timer = undefined;
    if (peer.state !== INITIALIZING) return;
    if (!msg.success) {
      const err = new IpcError(
        'ERR_REGISTRATION',
        `module ${peer.name} failed to initialize: ${msg.errorMessage || 'no reason given'}`,
      );
      this.report(err, peer.remoteAddress);
      this.closePeer(peer, err);
      return;
    }
    peer.state = READY;
    const held = peer.held;
    peer.held = [];
    for (const p of held) {
      if (p.done) continue;
      if (!p.asker.reachable) {
        this.settle(p); // nobody to answer: do not bother the module
        continue;
      }
      const request = p.msg as CommandMessage;
      p.msg = undefined;
      this.forward(p, request, undefined);
    }
  }

  private onControl(peer: Peer, msg: CommandMessage): void {
    const type = msg.controlType;
    if (type === ControlType.Finalize) {
      // The module leaves: answer, fail what it was asked at once, free its name, close.
      if (msg.transactionId !== 0) this.reply(peer, msg.intoResponse(null));
      this.closePeer(peer, undefined);
      return;
    }
    if (msg.transactionId === 0) {
      this.dropUnanswerable(peer, msg);
      return;
    }
    if (type === ControlType.Register) {
      this.refuseRegistration(peer, msg, `Already registered as ${peer.name}`);
      return;
    }
    this.reply(
      peer,
      msg.intoErrorResponse(
        `Not supported by the server: Control/${controlTypeName(type ?? 0) ?? String(type)}`,
      ),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Routing

  /** `frame` is the request as received (TCP), forwarded with only its transaction id changed. */
  private route(asker: Peer, msg: CommandMessage, frame: Uint8Array | undefined): void {
    const askerTxid = msg.transactionId;
    if (askerTxid === 0) {
      this.dropUnanswerable(asker, msg);
      return;
    }
    const topic = msg.topic;
    const domain = domainOf(topic);
    if (domain === SYSTEM_DOMAIN) {
      this.system(asker, msg);
      return;
    }
    if (this.closing !== undefined) {
      this.reply(asker, msg.intoErrorResponse('Shutdown'));
      return;
    }
    const target = this.modulesByName.get(domain);
    if (target === undefined || (target.state !== READY && target.state !== INITIALIZING)) {
      this.reply(asker, msg.intoErrorResponse(`Module not found: ${domain}`));
      return;
    }
    if (asker.inflight >= this.settings.maxInflightPerConnection) {
      this.reply(asker, msg.intoErrorResponse('Too many requests in flight'));
      return;
    }
    const p = this.admit(asker, askerTxid, target, topic);
    if (target.state === READY) {
      this.forward(p, msg, frame);
    } else {
      // Held without its frame: a view of the socket's chunk would pin the whole chunk.
      p.msg = msg;
      target.held.push(p);
    }
  }

  /** Starts tracking a routed request: counted against its asker, under the request deadline. */
  private admit(asker: Peer, askerTxid: number, target: Peer, topic: string): Pending {
    const p = new Pending(
      asker,
      askerTxid,
      target,
      topic,
      performance.now() + this.settings.requestTimeoutMs,
    );
    asker.inflight++;
    this.deadlines.push(p);
    return p;
  }

  private forward(p: Pending, msg: CommandMessage, frame: Uint8Array | undefined): void {
    const target = p.target;
    const hubTxid = this.allocTxid(target);
    try {
      this.sendWithTxid(target, msg, frame, hubTxid);
    } catch (e) {
      this.settle(p);
      this.reply(p.asker, msg.intoErrorResponse(sendFailure(e)));
      return;
    }
    p.hubTxid = hubTxid;
    target.pending.set(hubTxid, p);
  }

  private onResponse(peer: Peer, msg: CommandMessage, frame: Uint8Array | undefined): void {
    const txid = msg.transactionId;
    const p = peer.pending.get(txid);
    if (p === undefined) {
      if (txid !== 0 && txid === peer.initTxid) this.onInitialized(peer, msg);
      else if (txid !== 0 && txid === peer.finalizeTxid) this.onFinalized(peer);
      else {
        this.report(
          new IpcError(
            'ERR_INVALID_MESSAGE',
            `Response ${txid} from ${peer.name} matches no request in flight (late or unsolicited); dropped`,
          ),
          peer.remoteAddress,
        );
      }
      return;
    }
    peer.pending.delete(txid);
    this.settle(p);
    const asker = p.asker;
    if (!asker.reachable) return;
    try {
      this.sendWithTxid(asker, msg, frame, p.askerTxid);
    } catch (e) {
      this.sendFailure(asker, p.askerTxid, p.topic, sendFailure(e));
    }
  }

  /** A request's deadline passed (the queue has set `done`). */
  private expire(p: Pending): void {
    if (p.hubTxid !== 0) p.target.pending.delete(p.hubTxid);
    p.msg = undefined;
    p.asker.inflight--;
    if (!p.asker.reachable) return;
    this.sendFailure(
      p.asker,
      p.askerTxid,
      p.topic,
      `Timeout: no response from ${p.target.name} within ${this.settings.requestTimeoutMs} ms`,
    );
  }

  /** Marks a request answered or failed. */
  private settle(p: Pending): void {
    this.deadlines.settle(p);
    p.msg = undefined;
    p.asker.inflight--;
  }

  /** Fails every request routed to `peer` (in flight or held) with `reason`. */
  private failRequestsTo(peer: Peer, reason: string): void {
    if (peer.pending.size === 0 && peer.held.length === 0) return;
    const pending = [...peer.pending.values(), ...peer.held];
    peer.pending.clear();
    peer.held = [];
    for (const p of pending) {
      if (p.done) continue;
      this.settle(p);
      if (p.asker.reachable) this.sendFailure(p.asker, p.askerTxid, p.topic, reason);
    }
  }

  private system(asker: Peer, msg: CommandMessage): void {
    let reply: CommandMessage;
    switch (msg.topic) {
      case 'system.ping':
        reply = msg.intoResponse('pong');
        break;
      case 'system.get_domains':
        reply = msg.intoResponse(
          this.modules().map((m) => ({
            name: m.name,
            version: m.version,
            capabilities: m.capabilities,
          })),
        );
        break;
      case 'system.get_catalog': {
        const catalog: string[] = [...SYSTEM_COMMANDS];
        for (const m of this.modules()) catalog.push(...m.capabilities);
        reply = msg.intoResponse(catalog);
        break;
      }
      default:
        reply = msg.intoErrorResponse(`Not implemented: ${msg.topic}`);
    }
    this.reply(asker, reply);
  }

  // ---------------------------------------------------------------------------------------------
  // Subscriptions and broadcasts

  private subscribe(peer: Peer, msg: CommandMessage): void {
    if (msg.transactionId === 0) {
      this.dropUnanswerable(peer, msg);
      return;
    }
    const pattern = msg.topic;
    if (!peer.subscriptions.has(pattern)) {
      const limit = this.settings.maxSubscriptionsPerConnection;
      if (peer.subscriptions.size >= limit) {
        this.reply(peer, msg.intoErrorResponse(`Too many subscriptions (limit ${limit})`));
        return;
      }
      try {
        this.subscriptions.add(pattern, peer);
      } catch (e) {
        this.reply(peer, msg.intoErrorResponse((e as Error).message));
        return;
      }
      peer.subscriptions.add(pattern);
    }
    this.reply(peer, msg.intoResponse(null));
  }

  private unsubscribe(peer: Peer, msg: CommandMessage): void {
    if (msg.transactionId === 0) {
      this.dropUnanswerable(peer, msg);
      return;
    }
    const pattern = msg.topic;
    if (!peer.subscriptions.delete(pattern)) {
      this.reply(peer, msg.intoErrorResponse(`Not subscribed: ${pattern}`));
      return;
    }
    this.subscriptions.remove(pattern, peer);
    this.reply(peer, msg.intoResponse(null));
  }

  /** Delivers a Broadcast, given as its received frame, or as a message when there is none. */
  private broadcast(
    sender: Peer,
    topic: string,
    msg: CommandMessage | undefined,
    frame: Uint8Array | undefined,
  ): void {
    if (this.subscriptions.size === 0) return;
    this.bcEpoch = (this.bcEpoch + 1) | 0;
    this.bcSender = sender;
    this.bcMsg = msg;
    this.bcFrame = frame;
    try {
      this.subscriptions.all(topic, this.deliver);
    } finally {
      this.bcSender = undefined;
      this.bcMsg = undefined;
      this.bcFrame = undefined;
    }
  }

  /** Sends the current broadcast to one subscriber: once, never to its sender, encoded once. */
  private readonly deliver = (peer: Peer): void => {
    if (peer.epoch === this.bcEpoch || peer === this.bcSender) return;
    peer.epoch = this.bcEpoch;
    if (peer.state === LEAVING || peer.state === CLOSED) return;
    let frame = this.bcFrame;
    try {
      if (frame === undefined)
        frame = this.bcFrame = encodeFrame(this.bcMsg as CommandMessage, this.settings.maxPayload);
      peer.conn.sendFrame(frame);
    } catch (e) {
      this.report(
        e instanceof IpcError ? e : new IpcError('ERR_IO', String(e), { cause: e }),
        peer.remoteAddress,
      );
    }
  };

  // ---------------------------------------------------------------------------------------------
  // Closing

  /**
   * Ends a connection on the hub's initiative: retires it at once (name freed, requests to it
   * failed), flushes what was sent, and destroys it if the peer does not close its side within
   * `finalizeTimeoutMs`.
   */
  private closePeer(peer: Peer, reason: IpcError | undefined): void {
    if (peer.state === CLOSED) return;
    peer.closeReason ??= reason;
    this.retire(peer);
    if (peer.lingerTimer !== undefined) return;
    void peer.conn.end();
    peer.lingerTimer = unref(
      setTimeout(
        () => peer.conn.close(peer.closeReason),
        Math.max(1, this.settings.finalizeTimeoutMs),
      ),
    );
  }

  /** Takes a peer out of service: timers, name, subscriptions, requests routed to it. */
  private retire(peer: Peer): void {
    if (peer.retired) return;
    peer.retired = true;
    if (peer.state !== CLOSED) peer.state = LEAVING;
    clearTimeout(peer.timer);
    peer.timer = undefined;
    if (peer.name !== undefined && this.modulesByName.get(peer.name) === peer) {
      this.modulesByName.delete(peer.name);
    }
    for (const pattern of peer.subscriptions) this.subscriptions.remove(pattern, peer);
    peer.subscriptions.clear();
    this.failRequestsTo(
      peer,
      this.closing !== undefined ? 'Shutdown' : `Module disconnected: ${peer.name}`,
    );
  }

  private onClose(peer: Peer, error: IpcError | undefined): void {
    this.retire(peer);
    peer.state = CLOSED;
    clearTimeout(peer.lingerTimer);
    peer.lingerTimer = undefined;
    this.peers.delete(peer);
    const why = error ?? peer.closeReason;
    const name = peer.registration?.name;
    if (why?.code === 'ERR_SLOW_CONSUMER') {
      this.emit(
        'slowConsumer',
        name === undefined
          ? { remoteAddress: peer.remoteAddress }
          : { name, remoteAddress: peer.remoteAddress },
      );
    }
    const event: IpcServerEvents['disconnected'] = { remoteAddress: peer.remoteAddress };
    if (name !== undefined) event.name = name;
    if (why !== undefined) event.error = redactError(why);
    this.emit('disconnected', event);
  }

  private onFinalized(peer: Peer): void {
    peer.finalizeTxid = 0;
    this.closePeer(peer, undefined);
  }

  private async shutdown(options: HubCloseOptions): Promise<void> {
    const { signal } = options;
    const timeoutMs = options.timeoutMs ?? this.settings.finalizeTimeoutMs;
    const stopped = this.stopAccepting().catch((e: unknown) => {
      this.report(e instanceof IpcError ? e : new IpcError('ERR_IO', String(e), { cause: e }));
    });

    // 1. Ask every module to finalize; connections that never registered just close.
    for (const peer of [...this.peers]) {
      if (peer.state === READY || peer.state === INITIALIZING) {
        const fin = CommandMessage.control(ControlType.Finalize, peer.name ?? '', null);
        fin.transactionId = peer.finalizeTxid = this.allocTxid(peer);
        this.reply(peer, fin);
      } else if (peer.state !== CLOSED) {
        this.closePeer(peer, undefined);
      }
    }
    await this.waitForPeers(timeoutMs, signal);

    // 2. Whatever is still pending fails with "Shutdown" while its askers are still connected,
    //    then every connection is flushed and closed.
    for (const peer of this.peers) this.failRequestsTo(peer, 'Shutdown');
    for (const peer of [...this.peers]) this.closePeer(peer, undefined);
    await this.waitForPeers(timeoutMs, signal);

    // 3. Peers that did not close their side in time are destroyed.
    const left = [...this.peers];
    for (const peer of left) {
      peer.conn.close(
        new IpcError('ERR_SHUTDOWN', `closed by server shutdown (${peer.remoteAddress})`),
      );
    }
    await Promise.all(left.map((p) => p.conn.transport.closed));
    this.deadlines.clear();
    await stopped;
  }

  /** Resolves when every peer has closed, the time is up, or `signal` aborts. */
  private async waitForPeers(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.peers.size === 0 || signal?.aborted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      if (signal !== undefined) {
        onAbort = resolve;
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    try {
      await Promise.race([Promise.all([...this.peers].map((p) => p.conn.transport.closed)), bound]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  /** Next hub transaction id towards `peer`: u32, never 0, never one still in use. */
  private allocTxid(peer: Peer): number {
    let id = peer.lastTxid;
    do {
      id = id >= U32_MAX ? 1 : id + 1;
    } while (peer.pending.get(id) !== undefined || id === peer.initTxid || id === peer.finalizeTxid);
    peer.lastTxid = id;
    return id;
  }

  /**
   * Sends a routed message with the transaction id the receiver knows it by. The received frame
   * goes on as it is with only the id rewritten in its bytes (no JSON re-encoding), when its
   * payload allows that safely (see `patchTransactionId`, `withTransactionId`); otherwise it is
   * re-encoded. Throws what `send` throws (too large for the receiver, not serialisable).
   */
  private sendWithTxid(
    peer: Peer,
    msg: CommandMessage,
    frame: Uint8Array | undefined,
    transactionId: number,
  ): void {
    if (frame !== undefined) {
      // The received frame is the hub's alone once decoded: rewritten in place when the new id
      // fits in the old one's digits, else copied with the new id.
      const patched = patchTransactionId(frame, transactionId)
        ? frame
        : withTransactionId(frame, transactionId);
      if (patched !== undefined) {
        peer.conn.sendFrame(patched);
        return;
      }
    }
    const own = msg.transactionId;
    msg.transactionId = transactionId;
    try {
      peer.conn.send(msg);
    } finally {
      msg.transactionId = own;
    }
  }

  /** Sends a message the hub made; a failure is reported, never thrown. */
  private reply(peer: Peer, msg: CommandMessage): void {
    try {
      peer.conn.send(msg);
    } catch (e) {
      if (msg.messageType === MessageType.Response && msg.transactionId !== 0) {
        // Too large or not serialisable: the peer still gets an answer, without the payload.
        this.sendFailure(peer, msg.transactionId, msg.topic, sendFailure(e));
      }
      this.report(
        e instanceof IpcError ? e : new IpcError('ERR_IO', String(e), { cause: e }),
        peer.remoteAddress,
      );
    }
  }

  /** Sends a failed Response; a topic too long to fit is shortened rather than left unanswered. */
  private sendFailure(
    peer: Peer,
    transactionId: number,
    topic: string,
    errorMessage: string,
  ): void {
    const failure = new CommandMessage({
      transactionId,
      topic,
      messageType: MessageType.Response,
      success: false,
      errorMessage,
    });
    try {
      peer.conn.send(failure);
    } catch {
      failure.topic = '';
      try {
        peer.conn.send(failure);
      } catch (e) {
        this.report(
          e instanceof IpcError ? e : new IpcError('ERR_IO', String(e), { cause: e }),
          peer.remoteAddress,
        );
      }
    }
  }

  private dropUnanswerable(peer: Peer, msg: CommandMessage): void {
    this.report(
      new IpcError(
        'ERR_INVALID_MESSAGE',
        `${describeMsg(msg)} has transaction_id 0 and cannot be answered; dropped`,
        { invalid: { transactionId: 0, messageType: msg.messageType, topic: msg.topic } },
      ),
      peer.remoteAddress,
    );
  }

  private report(raw: IpcError, remoteAddress?: string): void {
    // Events end up in logs: a decoding fault's text must not carry the message's content.
    const error = redactError(raw);
    this.emit('error', remoteAddress === undefined ? { error } : { error, remoteAddress });
  }

  /** mitt's emit, except that a throwing listener neither stops the others nor reaches the hub. */
  private emit<K extends keyof IpcServerEvents>(type: K, event: IpcServerEvents[K]): void {
    const all = this.events.all;
    const handlers = all.get(type) as Handler<IpcServerEvents[K]>[] | undefined;
    const wildcards = all.get('*') as WildcardHandler<IpcServerEvents>[] | undefined;
    if (handlers === undefined && wildcards === undefined) return;
    if (handlers !== undefined) {
      for (const h of handlers.slice()) {
        try {
          h(event);
        } catch (e) {
          this.listenerFailed(type, e);
        }
      }
    }
    if (wildcards !== undefined) {
      for (const h of wildcards.slice()) {
        try {
          h(type, event);
        } catch (e) {
          this.listenerFailed(type, e);
        }
      }
    }
  }

  private listenerFailed(type: keyof IpcServerEvents, e: unknown): void {
    // An 'error' listener that throws is not told about itself (no loop).
    if (type === 'error' || this.emitting) return;
    this.emitting = true;
    try {
      this.emit('error', {
        error: new IpcError(
          'ERR_HANDLER',
          `a '${type}' listener threw: ${e instanceof Error ? e.message : String(e)}`,
          {
            cause: e,
          },
        ),
      });
    } finally {
      this.emitting = false;
    }
  }
}

/** Message types the relay path may route by their bytes alone. */
function isRelayed(type: number): boolean {
  return isRequestType(type) || type === MessageType.Response || type === MessageType.Broadcast;
}

function sendFailure(e: unknown): string {
  if (e instanceof IpcError && e.code === 'ERR_PAYLOAD_TOO_LARGE') return 'Message too large';
  return e instanceof Error ? e.message : String(e);
}

function describeMsg(msg: CommandMessage): string {
  const type = messageTypeName(msg.messageType) ?? String(msg.messageType);
  const control =
    msg.messageType === MessageType.Control
      ? `/${controlTypeName(msg.controlType ?? 0) ?? '?'}`
      : '';
  return `${type}${control} ${JSON.stringify(msg.topic.length > 80 ? msg.topic.slice(0, 80) + '…' : msg.topic)}`;
}
