/**
 * IpcClient: the module side of autocore-ipc (mechutil's `IpcClient`). It connects through any
 * {@link Connector} (TCP in Node, WebSocket in a browser), registers, serves the module's
 * requests through its {@link ModuleHandler}, sends requests and broadcasts, keeps
 * subscriptions, and reconnects by itself. Browser-safe: web APIs only.
 */
import mittModule, { type Emitter, type EventType, type Handler } from 'mitt';
import { IpcError, toIpcError } from '../core/errors.ts';
import { nextTransactionId } from '../core/ids.ts';
import {
  CommandMessage,
  ControlType,
  MODULE_NAME_PATTERN,
  MessageType,
  SYSTEM_DOMAIN,
  isRequestType,
  type ModuleRegistration,
  type RegisterAckData,
} from '../core/message.ts';
import { DEFAULT_MAX_PAYLOAD } from '../core/frame.ts';
import { answerMessage, type ModuleHandler } from '../core/module-handler.ts';
import { IdMap } from '../core/id-map.ts';
import { parseTopicPattern } from '../core/topic-pattern.ts';
import { TopicPatternMap } from '../core/topic-trie.ts';
import { MessageConnection } from '../message-connection.ts';
import type { Connector, Transport } from '../transports/transport.ts';
import {
  backoffDelayMs,
  resolveReconnectOptions,
  type ReconnectOptions,
  type ResolvedReconnectOptions,
} from './backoff.ts';
import {
  DELIVER,
  END,
  Subscription,
  type SubscribeOptions,
  type SubscriptionHandler,
  type SubscriptionOwner,
} from './subscription.ts';

// mitt's typings describe a CommonJS module under NodeNext resolution, while its ESM build
// default-exports the function itself; accept both shapes.
const mitt = ((mittModule as unknown as { default?: unknown }).default ?? mittModule) as <
  E extends Record<EventType, unknown>,
>() => Emitter<E>;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * Opt-in buffer for requests made while the client is not connected. Without it (the default)
 * such requests fail at once with ERR_CONNECTION, because replaying a stale command after a
 * reconnect can be a safety hazard (PROTOCOL.md section 4).
 *
 * @example
 * ```ts
 * const client = await IpcClient.connect(connector, handler, {
 *   offlineBuffer: { maxMessages: 100, ttlMs: 5000 },
 * });
 * ```
 */
export interface OfflineBufferOptions {
  /** Most requests held at once; one more fails at once with ERR_BUFFER_FULL. */
  maxMessages: number;
  /**
   * Longest time a request may wait in the buffer; then it fails with ERR_TIMEOUT. Its own
   * `timeoutMs` starts when it is actually sent.
   */
  ttlMs: number;
}

/**
 * What the client does when the server sends Control/Finalize (the server is shutting down).
 *
 * @example
 * ```ts
 * await IpcClient.connect(connector, handler, { onServerFinalize: 'close' }); // exit with the server
 * ```
 */
export type ServerFinalizeAction = 'reconnect' | 'close';

/**
 * Options of {@link IpcClient.connect} (mechutil's `IpcClientConfig`). Every member is optional.
 *
 * @example
 * ```ts
 * const client = await IpcClient.connect(tcpConnector('127.0.0.1:9100'), handler, {
 *   version: '1.2.0',
 *   token: process.env.AUTOCORE_TOKEN,
 *   requestTimeoutMs: 5000,
 *   reconnect: { maxDelayMs: 5000 },
 * });
 * ```
 */
export interface IpcClientOptions {
  /** Module name registered with the server (its domain). Default: `handler.domain`. */
  name?: string;
  /** Module version sent with Register. Default `''`. */
  version?: string;
  /**
   * Topics the module serves, sent with Register. Default: `handler.capabilities()` when the
   * handler has such a method (BaseModuleHandler does; read again at every registration), else `[]`.
   */
  capabilities?: string[];
  /** Shared secret sent with Register when the server authenticates. Default: none. */
  token?: string;
  /** Deadline of request/read/write/subscribe calls, overridable per call. Infinity = none. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /**
   * Heartbeat interval until the server's RegisterAck gives its own `heartbeat_ms` (which then
   * applies). A silent peer is dropped after 3 intervals. 0 disables. Default 10 000 ms.
   */
  heartbeatMs?: number;
  /** Requests (request/read/write/subscribe) awaiting their Response at once; one more fails with ERR_TOO_MANY_INFLIGHT. Default 1024. */
  maxInflight?: number;
  /**
   * Reconnect after the link drops: `true` (the default) uses the PROTOCOL.md section 4
   * schedule (first retry after a random 0-250 ms, then 500 ms doubling up to 10 s, +-25%
   * jitter, forever); an object tunes it; `false` closes the client when the link drops.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * When the very first connection or registration attempt fails for a transient reason
   * (server not up yet, connection refused or lost, handshake timeout), keep retrying on the
   * reconnect schedule instead of rejecting `connect()`. Bound the wait with `connectTimeoutMs`
   * or `signal`. A refused registration (name taken, invalid, authentication) always rejects at
   * once. Default `true`: a module may start before its server.
   */
  retryFirstConnect?: boolean;
  /** Opt-in buffer for requests made while disconnected. Default: none (fail fast with ERR_CONNECTION). */
  offlineBuffer?: OfflineBufferOptions;
  /** Largest inbound payload in bytes. Default 4 MiB. */
  maxPayload?: number;
  /** All bytes of an inbound frame must arrive within this long of its first byte. Default 30 000 ms. */
  frameTimeoutMs?: number;
  /**
   * One connection attempt (the connector, Register -> RegisterAck, until the server's
   * Control/Initialize arrives) must complete within this long, else it counts as failed.
   * Default 10 000 ms.
   */
  handshakeTimeoutMs?: number;
  /**
   * On Control/Finalize from the server the module answers it (running `onFinalize`), then:
   * `'reconnect'` (default) treats it as a disconnect and reconnects, since the server may be
   * restarting; `'close'` closes the client (`run()` resolves), mechutil-style.
   */
  onServerFinalize?: ServerFinalizeAction;
  /**
   * Listeners attached before the first attempt, so `connect()`'s own retries can be watched
   * (`reconnecting`, `error`, ...). Default: none.
   */
  listeners?: IpcClientListeners;
  /** Aborts `connect()` (rejects with ERR_ABORTED and closes the client). Ignored once connected. Default: none. */
  signal?: AbortSignal;
  /** `connect()` rejects with ERR_TIMEOUT (and the client closes) when not registered within this long. Default Infinity. */
  connectTimeoutMs?: number;
}

/**
 * mechutil's name for {@link IpcClientOptions}.
 *
 * @example
 * ```ts
 * const config: IpcClientConfig = { name: 'press1', requestTimeoutMs: 5000 };
 * ```
 */
export type IpcClientConfig = IpcClientOptions;

/**
 * Options of one request/read/write call.
 *
 * @example
 * ```ts
 * const reply = await client.request('press1.status', null, { timeoutMs: 2000, signal });
 * const raw = await client.request('press1.start', {}, { throwOnFailure: false });
 * if (!raw.success) console.warn(raw.errorMessage);
 * ```
 */
export interface RequestOptions {
  /** Deadline; the caller gets ERR_TIMEOUT and a later Response is dropped. Default: the client's `requestTimeoutMs`. */
  timeoutMs?: number;
  /** Aborts the call with ERR_ABORTED (a later Response is dropped). */
  signal?: AbortSignal;
  /**
   * `true` (default): a Response with `success: false` rejects with ERR_REMOTE (or
   * ERR_MODULE_NOT_FOUND for "Module not found: ..."), the Response in `error.response`.
   * `false`: every Response resolves as it is; only local faults reject.
   */
  throwOnFailure?: boolean;
}

/**
 * Options of {@link IpcClient.close}.
 *
 * @example
 * ```ts
 * await client.close({ timeoutMs: 500, signal: AbortSignal.timeout(1000) });
 * ```
 */
export interface CloseOptions {
  /** Longest wait for the server's answer to Finalize, and again for the flush of the socket. Default 2000 ms. */
  timeoutMs?: number;
  /** Stops waiting at once: the connection is closed hard (onFinalize still runs). */
  signal?: AbortSignal;
}

/**
 * The client's connection state.
 *
 * @example
 * ```ts
 * if (client.state === 'reconnecting') showBanner('offline, retrying');
 * ```
 */
export type IpcClientState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/**
 * Lifecycle events (a mitt event map); they never carry the message stream. A listener that
 * throws is reported as an `'error'` event and does not disturb the client.
 *
 * Order on a successful (re)connection: `registered` (RegisterAck received), then `connected`
 * (Initialize answered, subscriptions restored; `state === 'connected'`).
 *
 * @example
 * ```ts
 * client.on('disconnected', ({ error }) => console.warn('link lost', error?.message));
 * client.on('reconnecting', ({ attempt, delayMs }) => console.log(`retry ${attempt} in ${delayMs} ms`));
 * ```
 */
export type IpcClientEvents = {
  /** Registered and initialized: requests can flow. `attempt` is the try that succeeded in this (re)connection cycle, 1-based. */
  connected: { attempt: number };
  /** The server acknowledged the registration (its RegisterAck `data`). */
  registered: RegisterAckData;
  /** A registered link dropped; `error` says why when it was not a clean close. */
  disconnected: { error?: IpcError };
  /** A retry is scheduled: try number `attempt` of this cycle, after `delayMs`. */
  reconnecting: { attempt: number; delayMs: number };
  /** A fault worth logging: failed attempt, invalid inbound message, throwing listener or handler. */
  error: { error: IpcError };
  /** The client is closed for good; `error` is set when it gave up rather than being closed. */
  closed: { error?: IpcError };
};

/**
 * One listener per event, for {@link IpcClientOptions.listeners}.
 *
 * @example
 * ```ts
 * const listeners: IpcClientListeners = { reconnecting: ({ delayMs }) => show(`retry in ${delayMs} ms`) };
 * ```
 */
export type IpcClientListeners = { [K in keyof IpcClientEvents]?: Handler<IpcClientEvents[K]> };

const DEFAULTS = {
  version: '',
  requestTimeoutMs: 10_000,
  heartbeatMs: 10_000,
  maxInflight: 1024,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  frameTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  closeTimeoutMs: 2000,
} as const;

interface ResolvedOptions {
  name: string;
  version: string;
  capabilities: string[] | undefined;
  token: string | undefined;
  requestTimeoutMs: number;
  heartbeatMs: number;
  maxInflight: number;
  reconnect: ResolvedReconnectOptions | undefined;
  retryFirstConnect: boolean;
  offlineBuffer: OfflineBufferOptions | undefined;
  maxPayload: number;
  frameTimeoutMs: number;
  handshakeTimeoutMs: number;
  onServerFinalize: ServerFinalizeAction;
  signal: AbortSignal | undefined;
  connectTimeoutMs: number;
}

function invalidArg(message: string): IpcError {
  return new IpcError('ERR_INVALID_ARGUMENT', message);
}

function checkNumber(
  name: string,
  v: number | undefined,
  fallback: number,
  min = 0,
  integer = false,
): number {
  if (v === undefined) return fallback;
  if (
    typeof v !== 'number' ||
    Number.isNaN(v) ||
    v < min ||
    (integer && v !== Infinity && !Number.isInteger(v))
  ) {
    throw invalidArg(
      `${name} must be ${integer ? 'an integer' : 'a number'} >= ${min} (got ${String(v)})`,
    );
  }
  return v;
}

function resolveOptions(handler: ModuleHandler, o: IpcClientOptions): ResolvedOptions {
  if (
    typeof handler !== 'object' ||
    handler === null ||
    typeof handler.handleMessage !== 'function'
  ) {
    throw invalidArg('handler must be a ModuleHandler (an object with handleMessage)');
  }
  const name = o.name ?? handler.domain;
  if (typeof name !== 'string' || !MODULE_NAME_PATTERN.test(name) || name === SYSTEM_DOMAIN) {
    throw invalidArg(
      `Invalid module name ${JSON.stringify(name)}: 1-64 characters of [A-Za-z0-9_-], not "${SYSTEM_DOMAIN}"`,
    );
  }
  const version = o.version ?? DEFAULTS.version;
  if (typeof version !== 'string') throw invalidArg('version must be a string');
  if (
    o.capabilities !== undefined &&
    (!Array.isArray(o.capabilities) || !o.capabilities.every((c) => typeof c === 'string'))
  ) {
    throw invalidArg('capabilities must be an array of strings');
  }
  if (o.token !== undefined && typeof o.token !== 'string')
    throw invalidArg('token must be a string');
  const buffer = o.offlineBuffer;
  if (buffer !== undefined) {
    checkNumber('offlineBuffer.maxMessages', buffer.maxMessages, 0, 1, true);
    checkNumber('offlineBuffer.ttlMs', buffer.ttlMs, 0, 0);
    if (buffer.maxMessages === undefined || buffer.ttlMs === undefined) {
      throw invalidArg('offlineBuffer needs maxMessages and ttlMs');
    }
  }
  const onServerFinalize = o.onServerFinalize ?? 'reconnect';
  if (onServerFinalize !== 'reconnect' && onServerFinalize !== 'close') {
    throw invalidArg(`onServerFinalize must be 'reconnect' or 'close'`);
  }
  const reconnect =
    o.reconnect === false
      ? undefined
      : resolveReconnectOptions(
          o.reconnect === true || o.reconnect === undefined ? {} : o.reconnect,
        );
  return {
    name,
    version,
    capabilities: o.capabilities ? [...o.capabilities] : undefined,
    token: o.token,
    requestTimeoutMs: checkNumber(
      'requestTimeoutMs',
      o.requestTimeoutMs,
      DEFAULTS.requestTimeoutMs,
      1,
    ),
    heartbeatMs: checkNumber('heartbeatMs', o.heartbeatMs, DEFAULTS.heartbeatMs),
    maxInflight: checkNumber('maxInflight', o.maxInflight, DEFAULTS.maxInflight, 1, true),
    reconnect,
    retryFirstConnect: o.retryFirstConnect ?? true,
    offlineBuffer: buffer ? { maxMessages: buffer.maxMessages, ttlMs: buffer.ttlMs } : undefined,
    maxPayload: checkNumber('maxPayload', o.maxPayload, DEFAULTS.maxPayload, 1, true),
    frameTimeoutMs: checkNumber('frameTimeoutMs', o.frameTimeoutMs, DEFAULTS.frameTimeoutMs, 1),
    handshakeTimeoutMs: checkNumber(
      'handshakeTimeoutMs',
      o.handshakeTimeoutMs,
      DEFAULTS.handshakeTimeoutMs,
      1,
    ),
    onServerFinalize,
    signal: o.signal,
    connectTimeoutMs: checkNumber('connectTimeoutMs', o.connectTimeoutMs, Infinity, 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Small helpers (timers, deferreds, abort races)
// ---------------------------------------------------------------------------------------------

type Timer = ReturnType<typeof setTimeout>;

/** Longest delay setTimeout honours; larger ones (and Infinity) mean "no deadline" here. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * A timer that does not keep a Node process alive (the socket or the reconnect timer does).
 * Undefined for a delay of Infinity (or beyond what setTimeout can wait): no deadline.
 */
function weakTimer(fn: () => void, ms: number): Timer | undefined {
  if (!(ms <= MAX_TIMER_MS)) return undefined;
  const t = setTimeout(fn, ms);
  (t as { unref?: () => void }).unref?.();
  return t;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Handshake waiters may be rejected before anyone awaits them.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function abortError(signal: AbortSignal, what: string): IpcError {
  const reason: unknown = signal.reason;
  if (reason instanceof IpcError) return reason;
  return new IpcError('ERR_ABORTED', `${what} aborted`, { cause: reason });
}

/** Settles with `p`, or rejects with the abort reason as soon as `signal` aborts. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, what));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Resolves after `ms` or as soon as `signal` aborts (never rejects). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    // Deliberately NOT unref'd: while the client is retrying (not closed) it must keep a Node
    // process alive, or `await client.run()` would end the process during a backoff pause.
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Waits for `p` at most `ms`, or until `signal` aborts (never rejects). */
function within(p: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = weakTimer(done, Math.min(ms, MAX_TIMER_MS));
    signal?.addEventListener('abort', done, { once: true });
    p.then(done, done);
  });
}

function remoteError(response: CommandMessage): IpcError {
  const text = response.errorMessage || `${response.topic}: request failed (no error message)`;
  const code = text.startsWith('Module not found:') ? 'ERR_MODULE_NOT_FOUND' : 'ERR_REMOTE';
  return new IpcError(code, text, { response });
}

/** `request to press1.start`, for error texts (built only when an error needs it). */
function describeCall(msg: CommandMessage): string {
  return `${messageKind(msg)} ${msg.topic}`;
}

function messageKind(msg: CommandMessage): string {
  switch (msg.messageType) {
    case MessageType.Read:
      return 'read of';
    case MessageType.Write:
      return 'write to';
    case MessageType.Subscribe:
      return 'subscribe to';
    case MessageType.Unsubscribe:
      return 'unsubscribe from';
    case MessageType.Control:
      return 'control message to';
    default:
      return 'request to';
  }
}

function parseAck(data: unknown): RegisterAckData {
  const d = (typeof data === 'object' && data !== null ? data : {}) as Record<string, unknown>;
  return {
    server: typeof d.server === 'string' ? d.server : '',
    version: typeof d.version === 'string' ? d.version : '',
    heartbeat_ms: typeof d.heartbeat_ms === 'number' && d.heartbeat_ms >= 0 ? d.heartbeat_ms : -1,
    max_payload: typeof d.max_payload === 'number' && d.max_payload > 0 ? d.max_payload : -1,
  };
}

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

type LinkPhase = 'register' | 'initialize' | 'ready' | 'closed';

/** One connection attempt / connected link. */
interface Link {
  conn: MessageConnection;
  phase: LinkPhase;
  registerId: number;
  ack: Deferred<CommandMessage>;
  init: Deferred<CommandMessage>;
  closed: Deferred<IpcError | undefined>;
  /** The server sent Control/Finalize on this link. */
  finalizedByServer: boolean;
}

/** One request-like message from call to settlement. */
interface Call {
  msg: CommandMessage;
  /** Counted against maxInflight and rejected with ERR_SHUTDOWN by close(). */
  user: boolean;
  timeoutMs: number;
  /** A Response with success false rejects (ERR_REMOTE / ERR_MODULE_NOT_FOUND) instead of resolving. */
  throwOnFailure: boolean;
  resolve(msg: CommandMessage): void;
  reject(err: IpcError): void;
  settled: boolean;
  where: 'new' | 'buffer' | 'inflight';
  link: Link | undefined;
  timer: Timer | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A pattern held at the server, shared by every local subscription with that pattern. */
interface ServerSubscription {
  pattern: string;
  locals: Set<Subscription>;
  state: 'pending' | 'active';
  ready: Promise<void>;
}

/**
 * True when retrying cannot help: the registration was refused for good, or the connector
 * itself was given something invalid (a malformed address or token fails the same way every
 * time).
 */
function isFinalRefusal(err: IpcError, everConnected: boolean): boolean {
  if (err.code === 'ERR_INVALID_ARGUMENT') return true;
  if (err.code !== 'ERR_REGISTRATION') return false;
  // After a drop, the server may still hold our old, half-dead session under our name until it
  // notices; that refusal clears up by itself, so only then is it retried.
  const reason = (err.response as CommandMessage | undefined)?.errorMessage ?? '';
  return !(everConnected && reason.startsWith('Name already registered'));
}

// ---------------------------------------------------------------------------------------------
// IpcClient
// ---------------------------------------------------------------------------------------------

/**
 * The module-side IPC client (mechutil's `IpcClient`).
 *
 * - `connect()` resolves once registered and initialized; the client then keeps the module
 *   connected (reconnect with backoff, re-register, restore subscriptions) until `close()`.
 * - Requests are pipelined on one connection; each promise settles exactly once: the Response,
 *   or an {@link IpcError} (ERR_REMOTE, ERR_TIMEOUT, ERR_ABORTED, ERR_CONNECTION,
 *   ERR_TOO_MANY_INFLIGHT, ERR_BUFFER_FULL, ERR_SHUTDOWN, ERR_PAYLOAD_TOO_LARGE, ERR_SERIALIZATION).
 * - Requests for the module's own domain arrive at `handler.handleMessage` (concurrently); the
 *   server's Control messages at the handler's lifecycle hooks.
 *
 * @example
 * ```ts
 * import { IpcClient, BaseModuleHandler } from 'autocore-ipc';
 * import { tcpConnector } from 'autocore-ipc/node';
 *
 * const press = new BaseModuleHandler('press1').route('press1.status', () => ({ ok: true }));
 * const client = await IpcClient.connect(tcpConnector('127.0.0.1:9100'), press, { version: '1.0.0' });
 * const pong = await client.request('system.ping');
 * client.broadcast('press1.speed', 1200);
 * await using sub = await client.subscribe('plc1.>');
 * await client.run(); // until closed
 * ```
 */
export class IpcClient {
  /** Lifecycle events; see {@link IpcClientEvents}. Prefer {@link IpcClient.on}. */
  readonly events: Emitter<IpcClientEvents> = mitt<IpcClientEvents>();

  readonly #connector: Connector;
  readonly #handler: ModuleHandler;
  readonly #o: ResolvedOptions;
  #state: IpcClientState = 'connecting';
  #link: Link | undefined;
  #registration: RegisterAckData | undefined;

  readonly #pending = new IdMap<Call>();
  readonly #buffer = new Set<Call>();
  #userInflight = 0;

  readonly #serverSubs = new Map<string, ServerSubscription>();
  readonly #trie = new TopicPatternMap<Subscription>();
  readonly #subOwner: SubscriptionOwner;

  /** The handler's onInitialize succeeded and onFinalize has not run since. */
  #initialized = false;
  #initializing: Promise<unknown> | undefined;

  /** Aborted by close/give-up: stops backoff sleeps and handshakes. */
  readonly #stop = new AbortController();
  #closing = false;
  #closePromise: Promise<void> | undefined;
  #closeError: IpcError | undefined;
  readonly #closed = deferred<IpcError | undefined>();
  #firstConnect: Deferred<IpcClient> | undefined = deferred<IpcClient>();
  #loopDone: Promise<void> = Promise.resolve();

  private constructor(connector: Connector, handler: ModuleHandler, options: IpcClientOptions) {
    if (typeof connector !== 'function') throw invalidArg('connector must be a function');
    this.#connector = connector;
    this.#handler = handler;
    this.#o = resolveOptions(handler, options);
    this.#subOwner = {
      release: (sub) => this.#release(sub),
      reportError: (error) => this.#emit('error', { error }),
    };
    const listeners = options.listeners ?? {};
    for (const type of Object.keys(listeners) as (keyof IpcClientEvents)[]) {
      const listener = listeners[type];
      if (typeof listener === 'function') this.events.on(type, listener as Handler<unknown>);
    }
  }

  /**
   * Connects, registers and waits for the server's Initialize (answered through
   * `handler.onInitialize`). Rejects with ERR_REGISTRATION (the server's reason in the message
   * and the failed RegisterAck in `response`) when the server refuses the module: that is final,
   * never retried. Transient failures are retried on the reconnect schedule by default (see
   * `retryFirstConnect`); `signal` and `connectTimeoutMs` bound the wait (ERR_ABORTED,
   * ERR_TIMEOUT). An `onInitialize` that throws fails the attempt (the server closes the
   * connection) and counts as transient. Invalid options reject with ERR_INVALID_ARGUMENT. A
   * rejected connect leaves nothing running.
   *
   * @example
   * ```ts
   * const client = await IpcClient.connect(tcpConnector('127.0.0.1:9100'), handler, {
   *   connectTimeoutMs: 30_000,
   * });
   * ```
   */
  static connect(
    connector: Connector,
    handler: ModuleHandler,
    options: IpcClientOptions = {},
  ): Promise<IpcClient> {
    let client: IpcClient;
    try {
      client = new IpcClient(connector, handler, options);
    } catch (e) {
      return Promise.reject(toIpcError(e, 'ERR_INVALID_ARGUMENT'));
    }
    return client.#start();
  }

  /**
   * A fluent builder (mechutil's `IpcClientBuilder`).
   *
   * @example
   * ```ts
   * const client = await IpcClient.builder(connector, handler)
   *   .name('press1').token(secret).requestTimeout(5000).reconnect({ maxDelayMs: 5000 })
   *   .connect();
   * ```
   */
  static builder(connector: Connector, handler: ModuleHandler): IpcClientBuilder {
    return new IpcClientBuilder(connector, handler);
  }

  /** The registered module name (its domain). */
  get name(): string {
    return this.#o.name;
  }

  /** `'connecting'` (first connection), `'connected'`, `'reconnecting'` or `'closed'`. */
  get state(): IpcClientState {
    return this.#state;
  }

  /** True while registered and initialized (requests are sent, not failed or buffered). */
  get isConnected(): boolean {
    return this.#readyLink() !== undefined;
  }

  /** The last successful RegisterAck's data, if any. */
  get registration(): RegisterAckData | undefined {
    return this.#registration;
  }

  /** Requests awaiting their Response. */
  get inflight(): number {
    return this.#userInflight;
  }

  /**
   * Messages awaiting their Response, internal ones (Finalize, restored Subscribes) included:
   * 0 whenever the client is idle, so a test can see that nothing is left waiting.
   */
  get pending(): number {
    return this.#pending.size;
  }

  /** Requests waiting in the offline buffer. */
  get buffered(): number {
    return this.#buffer.size;
  }

  /** Distinct patterns subscribed at the server (several local subscriptions may share one). */
  get subscriptionPatterns(): string[] {
    return [...this.#serverSubs.keys()];
  }

  /**
   * Listens to a lifecycle event; returns a function that removes the listener.
   *
   * @example
   * ```ts
   * const off = client.on('connected', ({ attempt }) => console.log('up after', attempt, 'tries'));
   * off();
   * ```
   */
  on<K extends keyof IpcClientEvents>(type: K, listener: Handler<IpcClientEvents[K]>): () => void {
    this.events.on(type, listener);
    return () => this.events.off(type, listener);
  }

  /** Removes a listener added with {@link IpcClient.on}. */
  off<K extends keyof IpcClientEvents>(type: K, listener: Handler<IpcClientEvents[K]>): void {
    this.events.off(type, listener);
  }

  /**
   * Sends a Request to the module that owns the topic's domain (or `system.*` to the server)
   * and resolves with its Response. See {@link RequestOptions} for failures.
   *
   * @example
   * ```ts
   * const reply = await client.request('press1.set_speed', { rpm: 1200 }, { timeoutMs: 2000 });
   * reply.data; // whatever press1 answered
   * ```
   */
  request(
    topic: string,
    data: unknown = null,
    options: RequestOptions = {},
  ): Promise<CommandMessage> {
    return this.#userCall(CommandMessage.request, topic, data, options);
  }

  /**
   * Sends a Read of the value at `topic`; resolves with the Response (value in `data`).
   *
   * @example
   * ```ts
   * const speed = (await client.read('press1.speed')).data;
   * ```
   */
  read(topic: string, options: RequestOptions = {}): Promise<CommandMessage> {
    return this.#userCall(CommandMessage.read, topic, null, options);
  }

  /**
   * Sends a Write of `data` to `topic`; resolves with the Response.
   *
   * @example
   * ```ts
   * await client.write('press1.setpoint', 42);
   * ```
   */
  write(topic: string, data: unknown, options: RequestOptions = {}): Promise<CommandMessage> {
    return this.#userCall(CommandMessage.write, topic, data, options);
  }

  /**
   * Sends a Broadcast on `topic` (fire and forget: returns once it is queued on the
   * connection; the server delivers it to every other connection subscribed to a matching
   * pattern). Throws ERR_CONNECTION when not connected (broadcasts are never buffered: a
   * stale value is worse than none), ERR_SHUTDOWN after close, ERR_INVALID_ARGUMENT for an
   * empty topic, ERR_PAYLOAD_TOO_LARGE / ERR_SERIALIZATION (nothing sent).
   *
   * @example
   * ```ts
   * client.broadcast('press1.speed', 1200);
   * ```
   */
  broadcast(topic: string, data: unknown = null): void {
    if (this.#closing)
      throw new IpcError('ERR_SHUTDOWN', `cannot broadcast ${topic}: the client is closed`);
    if (typeof topic !== 'string' || topic === '')
      throw invalidArg('broadcast topic must be a non-empty string');
    const link = this.#readyLink();
    if (!link) {
      throw new IpcError(
        'ERR_CONNECTION',
        `cannot broadcast ${topic}: not connected (${this.#state})`,
      );
    }
    link.conn.send(CommandMessage.broadcast(topic, data));
  }

  /**
   * A handle that only sends broadcasts, to give to the parts of a module that publish values
   * (mechutil's `BroadcastSender`).
   *
   * @example
   * ```ts
   * const out = client.broadcastSender();
   * plc.onChange((tag, value) => { if (out.isConnected) out.send(`press1.${tag}`, value); });
   * ```
   */
  broadcastSender(): BroadcastSender {
    return new BroadcastSender(this);
  }

  /**
   * Subscribes to Broadcasts whose topic matches `pattern` (PROTOCOL.md section 6 syntax).
   * Resolves once the server has accepted the Subscribe (at once when another local
   * subscription already holds the same pattern). Rejects with ERR_INVALID_PATTERN (checked
   * locally, nothing sent), ERR_REMOTE (the server's reason), ERR_CONNECTION (not connected),
   * ERR_TIMEOUT, ERR_ABORTED, ERR_SHUTDOWN. Subscriptions are restored after a reconnect.
   *
   * @example
   * ```ts
   * const sub = await client.subscribe('press1.axis.*.pos');
   * for await (const msg of sub) console.log(msg.topic, msg.data);
   *
   * const alarms = await client.subscribe('alarms.>', (msg) => console.warn(msg.data));
   * await alarms.unsubscribe();
   * ```
   */
  async subscribe(
    pattern: string,
    handlerOrOptions?: SubscriptionHandler | SubscribeOptions,
  ): Promise<Subscription> {
    const opts: SubscribeOptions =
      typeof handlerOrOptions === 'function'
        ? { handler: handlerOrOptions }
        : (handlerOrOptions ?? {});
    if (this.#closing)
      throw new IpcError('ERR_SHUTDOWN', `cannot subscribe to ${pattern}: the client is closed`);
    parseTopicPattern(pattern);
    if (opts.signal?.aborted) throw abortError(opts.signal, `subscribe to ${pattern}`);
    let entry = this.#serverSubs.get(pattern);
    if (!entry) {
      if (!this.#readyLink()) {
        throw new IpcError(
          'ERR_CONNECTION',
          `cannot subscribe to ${pattern}: not connected (${this.#state})`,
        );
      }
      entry = this.#openServerSubscription(pattern, opts.timeoutMs ?? this.#o.requestTimeoutMs);
    }
    const sub = new Subscription(this.#subOwner, pattern, opts.handler, opts.bufferSize);
    entry.locals.add(sub);
    if (entry.state === 'active') {
      this.#trie.add(pattern, sub);
      return sub;
    }
    try {
      await (opts.signal
        ? raceAbort(entry.ready, opts.signal, `subscribe to ${pattern}`)
        : entry.ready);
    } catch (e) {
      entry.locals.delete(sub);
      this.#dropIfUnused(entry);
      throw e;
    }
    return sub;
  }

  /**
   * Resolves when the client is closed by {@link IpcClient.close} or by the server's Finalize
   * (with `onServerFinalize: 'close'`); rejects with the reason when it gave up (reconnect
   * disabled or exhausted, registration refused). mechutil's `run`.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => void client.close());
   * await client.run();
   * ```
   */
  run(): Promise<void> {
    return this.#closed.promise.then((err) => {
      if (err) throw err;
    });
  }

  /**
   * Leaves gracefully: fails every request still waiting (ERR_SHUTDOWN), sends Control/Finalize
   * to the server and waits up to `timeoutMs` for its answer, runs `handler.onFinalize` (once,
   * only if the module was initialized), flushes and closes the connection, ends every
   * subscription and stops reconnecting. Idempotent; afterwards nothing of the client keeps a
   * process alive.
   *
   * @example
   * ```ts
   * await client.close({ timeoutMs: 1000 });
   * ```
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.#closePromise ??= this.#shutdown(
      undefined,
      true,
      options.timeoutMs ?? DEFAULTS.closeTimeoutMs,
      options.signal,
    );
    return this.#closePromise;
  }

  /** `await using client = await IpcClient.connect(...)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -------------------------------------------------------------------------------------------
  // Connecting
  // -------------------------------------------------------------------------------------------

  #start(): Promise<IpcClient> {
    const first = this.#firstConnect as Deferred<IpcClient>;
    const { signal, connectTimeoutMs } = this.#o;
    const cleanups: (() => void)[] = [];
    if (signal) {
      if (signal.aborted) {
        void this.#giveUp(abortError(signal, 'connect'));
        return first.promise;
      }
      const onAbort = (): void => void this.#giveUp(abortError(signal, 'connect'));
      signal.addEventListener('abort', onAbort, { once: true });
      cleanups.push(() => signal.removeEventListener('abort', onAbort));
    }
    {
      const timer = weakTimer(
        () =>
          void this.#giveUp(
            new IpcError('ERR_TIMEOUT', `connect: not registered within ${connectTimeoutMs} ms`),
          ),
        connectTimeoutMs,
      );
      cleanups.push(() => clearTimeout(timer));
    }
    const cleanup = (): void => cleanups.forEach((c) => c());
    first.promise.then(cleanup, cleanup);
    this.#loopDone = this.#runLoop();
    return first.promise;
  }

  async #runLoop(): Promise<void> {
    let everConnected = false;
    let reconnectCycle = false;
    let tries = 0;
    let lastError: IpcError | undefined;
    while (!this.#closing) {
      tries++;
      // In the first cycle the first try is immediate; after a drop every try is delayed.
      const delayIndex = reconnectCycle ? tries : tries - 1;
      if (delayIndex > 0) {
        const rc = this.#o.reconnect ?? resolveReconnectOptions();
        if (delayIndex > rc.maxAttempts) {
          const why = lastError ? `: ${lastError.message}` : '';
          void this.#giveUp(
            new IpcError(
              'ERR_CONNECTION',
              `gave up after ${rc.maxAttempts} reconnect attempts${why}`,
              {
                cause: lastError,
              },
            ),
          );
          break;
        }
        const delayMs = backoffDelayMs(delayIndex, rc);
        this.#emit('reconnecting', { attempt: tries, delayMs });
        await sleep(delayMs, this.#stop.signal);
        if (this.#closing) break;
      }
      let link: Link;
      try {
        link = await this.#establish(tries);
      } catch (e) {
        if (this.#closing) break;
        const err = toIpcError(e, 'ERR_CONNECTION');
        const retryAllowed = everConnected
          ? this.#o.reconnect !== undefined
          : this.#o.retryFirstConnect;
        if (isFinalRefusal(err, everConnected) || !retryAllowed) {
          void this.#giveUp(err);
          break;
        }
        lastError = err;
        this.#emit('error', { error: err });
        continue;
      }
      everConnected = true;
      lastError = undefined;
      const first = this.#firstConnect;
      this.#firstConnect = undefined;
      first?.resolve(this);
      const why = await link.closed.promise;
      if (this.#closing) break;
      if (link.finalizedByServer && this.#o.onServerFinalize === 'close') {
        this.#closePromise ??= this.#shutdown(undefined, false, DEFAULTS.closeTimeoutMs);
        break;
      }
      if (this.#o.reconnect === undefined) {
        void this.#giveUp(why ?? new IpcError('ERR_CONNECTION', 'connection closed by the server'));
        break;
      }
      this.#state = 'reconnecting';
      reconnectCycle = true;
      tries = 0;
      lastError = why;
    }
  }

  /** One attempt: connector, Register/RegisterAck, Initialize, restore subscriptions. */
  async #establish(attempt: number): Promise<Link> {
    const o = this.#o;
    const ac = new AbortController();
    const onStop = (): void => ac.abort(this.#stop.signal.reason);
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const handshakeTimer = weakTimer(
      () =>
        ac.abort(
          new IpcError(
            'ERR_TIMEOUT',
            `connection attempt ${attempt} not complete within ${o.handshakeTimeoutMs} ms`,
          ),
        ),
      o.handshakeTimeoutMs,
    );
    let link: Link | undefined;
    try {
      const connecting = this.#connector({ signal: ac.signal });
      // A connector that ignores the signal may still deliver a transport later: close it.
      connecting.then(
        (t) => {
          if (ac.signal.aborted && link === undefined) t.close();
        },
        () => {},
      );
      const transport = await raceAbort(connecting, ac.signal, 'connect');
      link = this.#openLink(transport);
      this.#link = link;

      // Register -> RegisterAck
      const registration: ModuleRegistration = {
        name: o.name,
        version: o.version,
        capabilities: o.capabilities ?? this.#handlerCapabilities(),
      };
      if (o.token !== undefined) registration.token = o.token;
      const register = CommandMessage.control(ControlType.Register, o.name, registration);
      link.registerId = register.transactionId;
      link.conn.send(register);
      const ack = await raceAbort(link.ack.promise, ac.signal, 'registration');
      if (!ack.success) {
        throw new IpcError(
          'ERR_REGISTRATION',
          `registration of ${o.name} refused: ${ack.errorMessage || 'no reason given'}`,
          { response: ack },
        );
      }
      const ackData = parseAck(ack.data);
      if (ackData.heartbeat_ms >= 0) {
        link.conn.heartbeatMs = ackData.heartbeat_ms;
        link.conn.armHeartbeat();
      }
      if (ackData.max_payload > 0) link.conn.peerMaxPayload = ackData.max_payload;
      this.#registration = ackData;
      link.phase = 'initialize';
      this.#emit('registered', ackData);

      // Initialize -> onInitialize -> Response
      const init = await raceAbort(link.init.promise, ac.signal, 'initialization');
      clearTimeout(handshakeTimer);
      // A Control message is always answered through a promise (its hooks may be async).
      const initializing = (answerMessage(this.#handler, init) as Promise<CommandMessage>).then(
        (reply) => {
          // Set here, not after the race below: a close() during onInitialize must still see it.
          if (reply.success) this.#initialized = true;
          return reply;
        },
      );
      this.#initializing = initializing;
      const reply = await raceAbort(initializing, this.#stop.signal, 'initialization');
      link.conn.send(reply);
      if (!reply.success) {
        throw new IpcError('ERR_HANDLER', `onInitialize failed: ${reply.errorMessage}`);
      }

      // Restore subscriptions; a refusal is reported, the local subscriptions are kept.
      await raceAbort(
        this.#restoreSubscriptions(link),
        this.#stop.signal,
        'restoring subscriptions',
      );
      if (link.conn.isClosed || (link.phase as LinkPhase) === 'closed') {
        throw (
          (await link.closed.promise) ??
          new IpcError('ERR_CONNECTION', 'connection closed during registration')
        );
      }

      link.phase = 'ready';
      this.#state = 'connected';
      // Buffered requests go out before anything a 'connected' listener sends.
      this.#flushBuffer(link);
      this.#emit('connected', { attempt });
      return link;
    } catch (e) {
      if (link) {
        link.conn.close();
        if (this.#link === link) this.#link = undefined;
      }
      throw e;
    } finally {
      clearTimeout(handshakeTimer);
      this.#stop.signal.removeEventListener('abort', onStop);
    }
  }

  #handlerCapabilities(): string[] {
    const h = this.#handler as { capabilities?: unknown };
    if (typeof h.capabilities !== 'function') return [];
    try {
      const caps: unknown = (h.capabilities as () => unknown).call(this.#handler);
      return Array.isArray(caps) ? caps.filter((c): c is string => typeof c === 'string') : [];
    } catch (e) {
      this.#emit('error', { error: toIpcError(e, 'ERR_HANDLER', 'handler.capabilities() threw') });
      return [];
    }
  }

  #openLink(transport: Transport): Link {
    const o = this.#o;
    const link = {
      phase: 'register',
      registerId: 0,
      ack: deferred<CommandMessage>(),
      init: deferred<CommandMessage>(),
      closed: deferred<IpcError | undefined>(),
      finalizedByServer: false,
    } as Omit<Link, 'conn'> as Link;
    link.conn = new MessageConnection(
      transport,
      {
        maxPayload: o.maxPayload,
        heartbeatMs: o.heartbeatMs,
        frameTimeoutMs: o.frameTimeoutMs,
      },
      {
        onMessage: (msg) => this.#onMessage(link, msg),
        onError: (error) => {
          if (link.phase !== 'closed') this.#emit('error', { error });
        },
        onClose: (error) => this.#onLinkClosed(link, error),
      },
    );
    return link;
  }

  #onLinkClosed(link: Link, error: IpcError | undefined): void {
    const wasReady = link.phase === 'ready';
    link.phase = 'closed';
    if (this.#link === link) this.#link = undefined;
    const lost =
      error ?? new IpcError('ERR_CONNECTION', `connection to ${link.conn.remoteAddress} closed`);
    link.ack.reject(lost);
    link.init.reject(lost);
    for (const call of this.#pending.values()) {
      if (call.link !== link) continue;
      this.#settle(
        call,
        this.#closing
          ? new IpcError('ERR_SHUTDOWN', `${describeCall(call.msg)}: the client closed`)
          : new IpcError(
              'ERR_CONNECTION',
              `connection lost while waiting for the response to ${call.msg.topic}: ${lost.message}`,
              { cause: lost },
            ),
      );
    }
    if (wasReady) {
      const closesNow =
        this.#o.reconnect === undefined ||
        (link.finalizedByServer && this.#o.onServerFinalize === 'close');
      if (!this.#closing) this.#state = closesNow ? 'closed' : 'reconnecting';
      this.#emit('disconnected', error ? { error } : {});
    }
    link.closed.resolve(error);
  }

  // -------------------------------------------------------------------------------------------
  // Inbound
  // -------------------------------------------------------------------------------------------

  #onMessage(link: Link, msg: CommandMessage): void {
    if (link.phase === 'closed') return;
    switch (msg.messageType) {
      case MessageType.Response: {
        const call = this.#pending.get(msg.transactionId);
        // An unknown id is a Response that arrived after its call timed out or was aborted.
        if (call && call.link === link) this.#settle(call, msg);
        return;
      }
      case MessageType.Broadcast:
        this.#trie.forEachMatchingValue(msg.topic, (sub) => sub[DELIVER](msg));
        return;
      case MessageType.Control:
        this.#onControl(link, msg);
        return;
      case MessageType.Subscribe:
      case MessageType.Unsubscribe:
        if (msg.transactionId !== 0) {
          this.#send(
            link,
            msg.intoErrorResponse(
              `Not supported by module ${this.#o.name}: subscriptions are held by the server`,
            ),
          );
        }
        return;
      default:
        if (isRequestType(msg.messageType)) this.#serve(link, msg);
    }
  }

  #onControl(link: Link, msg: CommandMessage): void {
    switch (msg.controlType) {
      case ControlType.RegisterAck:
        if (link.phase === 'register' && msg.transactionId === link.registerId)
          link.ack.resolve(msg);
        else
          this.#emit('error', {
            error: new IpcError('ERR_INVALID_MESSAGE', 'unexpected RegisterAck ignored'),
          });
        return;
      case ControlType.Initialize:
        // The server sends Initialize right behind the RegisterAck, often in the same read, so
        // it can arrive before the handshake has moved on from the ack: keep it for later.
        if (link.phase === 'register' || link.phase === 'initialize') {
          link.init.resolve(msg);
          return;
        }
        break;
      case ControlType.Finalize: {
        const call = this.#pending.get(msg.transactionId);
        if (call && call.link === link && call.msg.controlType === ControlType.Finalize) {
          // The server answered our Finalize with a Control message rather than a Response.
          this.#settle(call, msg);
          return;
        }
        link.finalizedByServer = true;
        void this.#onServerFinalize(link, msg);
        return;
      }
    }
    this.#serve(link, msg);
  }

  async #onServerFinalize(link: Link, msg: CommandMessage): Promise<void> {
    let reply = msg.intoResponse(null);
    if (this.#initialized) {
      this.#initialized = false;
      try {
        await this.#handler.onFinalize?.();
      } catch (e) {
        reply = msg.intoErrorResponse(toIpcError(e, 'ERR_HANDLER').message);
      }
    }
    this.#send(link, reply);
    // The server closes after our answer; ending our side too means a server that does not
    // still leads to a clean reconnect (or close).
    if (!link.conn.isClosed) void link.conn.end();
  }

  #serve(link: Link, msg: CommandMessage): void {
    const reply = this.#closing
      ? msg.intoErrorResponse(`Module ${this.#o.name} is shutting down`)
      : answerMessage(this.#handler, msg);
    if (reply instanceof CommandMessage) this.#send(link, reply);
    else void reply.then((r) => this.#send(link, r));
  }

  /** Sends an answer; one that cannot be encoded becomes a failed Response saying why. */
  #send(link: Link, reply: CommandMessage): void {
    if (link.conn.isClosed) return;
    try {
      link.conn.send(reply);
    } catch (e) {
      const err = toIpcError(e, 'ERR_SERIALIZATION');
      this.#emit('error', { error: err });
      try {
        link.conn.send(reply.intoErrorResponse(`Response not sent: ${err.message}`));
      } catch {
        // Nothing more can be said on this connection.
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Calls (request/read/write/subscribe/unsubscribe/finalize)
  // -------------------------------------------------------------------------------------------

  #readyLink(): Link | undefined {
    const link = this.#link;
    return link && link.phase === 'ready' && !link.conn.isClosed && !this.#closing
      ? link
      : undefined;
  }

  /** `make` is a CommandMessage factory (not a closure: one fewer allocation per request). */
  #userCall(
    make: (topic: string, data: unknown) => CommandMessage,
    topic: string,
    data: unknown,
    options: RequestOptions,
  ): Promise<CommandMessage> {
    if (typeof topic !== 'string' || topic === '') {
      return Promise.reject(invalidArg('topic must be a non-empty string'));
    }
    let timeoutMs: number;
    try {
      timeoutMs = checkNumber('timeoutMs', options.timeoutMs, this.#o.requestTimeoutMs, 1);
    } catch (e) {
      return Promise.reject(e);
    }
    // A failed Response is turned into a rejection by #settle itself: a `.then` here would cost
    // a second promise on every request.
    return this.#call(make(topic, data), {
      user: true,
      timeoutMs,
      signal: options.signal,
      throwOnFailure: options.throwOnFailure !== false,
    });
  }

  /**
   * Starts one call. User calls go to the ready link, the offline buffer, or fail; internal
   * calls (`link` given) go to that link whatever its phase.
   */
  #call(
    msg: CommandMessage,
    opts: {
      user: boolean;
      timeoutMs: number;
      signal?: AbortSignal | undefined;
      link?: Link;
      throwOnFailure?: boolean;
    },
  ): Promise<CommandMessage> {
    return new Promise<CommandMessage>((resolve, reject) => {
      const call: Call = {
        msg,
        user: opts.user,
        timeoutMs: opts.timeoutMs,
        throwOnFailure: opts.throwOnFailure === true,
        resolve,
        reject,
        settled: false,
        where: 'new',
        link: undefined,
        timer: undefined,
        signal: opts.signal,
        onAbort: undefined,
      };
      if (this.#closing && opts.user) {
        this.#settle(
          call,
          new IpcError('ERR_SHUTDOWN', `${describeCall(msg)}: the client is closed`),
        );
        return;
      }
      const signal = opts.signal;
      if (signal) {
        if (signal.aborted) {
          this.#settle(call, abortError(signal, describeCall(msg)));
          return;
        }
        call.onAbort = () => this.#settle(call, abortError(signal, describeCall(msg)));
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      if (opts.link) {
        this.#transmit(call, opts.link);
        return;
      }
      const link = this.#readyLink();
      if (link) {
        this.#transmit(call, link);
        return;
      }
      const buffer = this.#o.offlineBuffer;
      if (!buffer) {
        this.#settle(
          call,
          new IpcError('ERR_CONNECTION', `${describeCall(msg)}: not connected (${this.#state})`),
        );
        return;
      }
      if (this.#buffer.size >= buffer.maxMessages) {
        this.#settle(
          call,
          new IpcError(
            'ERR_BUFFER_FULL',
            `${describeCall(msg)}: offline buffer full (${buffer.maxMessages} requests)`,
          ),
        );
        return;
      }
      call.where = 'buffer';
      this.#buffer.add(call);
      call.timer = weakTimer(
        () =>
          this.#settle(
            call,
            new IpcError(
              'ERR_TIMEOUT',
              `${describeCall(msg)}: not connected within the offline buffer's ttl of ${buffer.ttlMs} ms`,
            ),
          ),
        buffer.ttlMs,
      );
    });
  }

  /** Writes a call to `link` and starts its deadline. */
  #transmit(call: Call, link: Link): void {
    if (call.user && this.#userInflight >= this.#o.maxInflight) {
      this.#settle(
        call,
        new IpcError(
          'ERR_TOO_MANY_INFLIGHT',
          `${describeCall(call.msg)}: ${this.#o.maxInflight} requests already in flight`,
        ),
      );
      return;
    }
    if (link.conn.isClosed || (link.phase as LinkPhase) === 'closed') {
      this.#settle(
        call,
        new IpcError('ERR_CONNECTION', `${describeCall(call.msg)}: not connected`),
      );
      return;
    }
    // Ids wrap after 2^32 - 1: never reuse one that is still waiting.
    while (this.#pending.get(call.msg.transactionId) !== undefined) call.msg.transactionId = nextTransactionId();
    try {
      link.conn.send(call.msg);
    } catch (e) {
      this.#settle(call, toIpcError(e, 'ERR_SERIALIZATION'));
      return;
    }
    call.where = 'inflight';
    call.link = link;
    this.#pending.set(call.msg.transactionId, call);
    if (call.user) this.#userInflight++;
    call.timer = weakTimer(
      () =>
        this.#settle(
          call,
          new IpcError(
            'ERR_TIMEOUT',
            `Timeout: no response to ${describeCall(call.msg)} within ${call.timeoutMs} ms`,
          ),
        ),
      call.timeoutMs,
    );
  }

  #settle(call: Call, outcome: CommandMessage | IpcError): void {
    if (call.settled) return;
    call.settled = true;
    if (call.timer !== undefined) clearTimeout(call.timer);
    call.timer = undefined;
    if (call.signal && call.onAbort) call.signal.removeEventListener('abort', call.onAbort);
    if (call.where === 'buffer') this.#buffer.delete(call);
    if (call.where === 'inflight' && this.#pending.get(call.msg.transactionId) === call) {
      this.#pending.delete(call.msg.transactionId);
      if (call.user) this.#userInflight--;
    }
    if (outcome instanceof IpcError) call.reject(outcome);
    else if (call.throwOnFailure && !outcome.success) call.reject(remoteError(outcome));
    else call.resolve(outcome);
  }

  #flushBuffer(link: Link): void {
    for (const call of [...this.#buffer]) {
      if (call.settled) continue;
      this.#buffer.delete(call);
      if (call.timer !== undefined) clearTimeout(call.timer);
      call.timer = undefined;
      call.where = 'new';
      this.#transmit(call, link);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Subscriptions
  // -------------------------------------------------------------------------------------------

  #openServerSubscription(pattern: string, timeoutMs: number): ServerSubscription {
    const entry: ServerSubscription = {
      pattern,
      locals: new Set(),
      state: 'pending',
      ready: Promise.resolve(),
    };
    this.#serverSubs.set(pattern, entry);
    entry.ready = this.#call(CommandMessage.subscribe(pattern), { user: true, timeoutMs }).then(
      (reply) => {
        if (!reply.success) throw remoteError(reply);
        entry.state = 'active';
        for (const sub of entry.locals) this.#trie.add(pattern, sub);
        void this.#dropIfUnused(entry);
      },
    );
    entry.ready.catch(() => {
      if (this.#serverSubs.get(pattern) === entry) this.#serverSubs.delete(pattern);
    });
    return entry;
  }

  /** An active server subscription with no local subscription left is unsubscribed. */
  #dropIfUnused(entry: ServerSubscription): Promise<void> {
    if (entry.locals.size > 0 || entry.state !== 'active') return Promise.resolve();
    if (this.#serverSubs.get(entry.pattern) !== entry) return Promise.resolve();
    this.#serverSubs.delete(entry.pattern);
    const link = this.#readyLink();
    if (!link) return Promise.resolve();
    return this.#call(CommandMessage.unsubscribe(entry.pattern), {
      user: false,
      timeoutMs: this.#o.requestTimeoutMs,
      link,
    }).then(
      (reply) => {
        if (!reply.success) this.#emit('error', { error: remoteError(reply) });
      },
      (e: unknown) => {
        const err = toIpcError(e, 'ERR_CONNECTION');
        // A lost link drops the server's subscriptions anyway.
        if (err.code !== 'ERR_CONNECTION' && err.code !== 'ERR_SHUTDOWN')
          this.#emit('error', { error: err });
      },
    );
  }

  #release(sub: Subscription): Promise<void> {
    this.#trie.remove(sub.pattern, sub);
    const entry = this.#serverSubs.get(sub.pattern);
    if (!entry || !entry.locals.delete(sub)) return Promise.resolve();
    return this.#dropIfUnused(entry);
  }

  async #restoreSubscriptions(link: Link): Promise<void> {
    const entries = [...this.#serverSubs.values()].filter((e) => e.state === 'active');
    await Promise.all(
      entries.map((entry) =>
        this.#call(CommandMessage.subscribe(entry.pattern), {
          user: false,
          timeoutMs: this.#o.requestTimeoutMs,
          link,
        }).then(
          (reply) => {
            if (!reply.success) {
              this.#emit('error', {
                error: new IpcError(
                  'ERR_REMOTE',
                  `restoring the subscription to ${entry.pattern} failed: ${reply.errorMessage}`,
                  { response: reply },
                ),
              });
            }
          },
          (e: unknown) => {
            if (!link.conn.isClosed)
              this.#emit('error', { error: toIpcError(e, 'ERR_CONNECTION') });
          },
        ),
      ),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Shutdown
  // -------------------------------------------------------------------------------------------

  /** Ends the client because it cannot go on (refused, gave up, aborted, timed out). */
  #giveUp(error: IpcError): Promise<void> {
    this.#closePromise ??= this.#shutdown(error, false, DEFAULTS.closeTimeoutMs);
    return this.#closePromise;
  }

  async #shutdown(
    error: IpcError | undefined,
    graceful: boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#closing = true;
    this.#closeError = error;
    this.#state = 'closed';
    if (error) this.#emit('error', { error });
    this.#stop.abort(new IpcError('ERR_SHUTDOWN', 'the client is closing'));

    const first = this.#firstConnect;
    this.#firstConnect = undefined;
    first?.reject(
      error ?? new IpcError('ERR_SHUTDOWN', 'the client was closed before it connected'),
    );

    const shutdownError = (call: Call): IpcError =>
      new IpcError('ERR_SHUTDOWN', `${describeCall(call.msg)}: the client closed`, {
        cause: error,
      });
    for (const call of [...this.#buffer]) this.#settle(call, shutdownError(call));
    for (const call of this.#pending.values())
      if (call.user) this.#settle(call, shutdownError(call));

    const link = this.#link;
    if (graceful && link && link.phase === 'ready' && !link.conn.isClosed) {
      const finalize = CommandMessage.control(ControlType.Finalize, this.#o.name, null);
      await this.#call(finalize, { user: false, timeoutMs, link, signal }).catch(() => undefined);
    }
    if (this.#initializing) await within(this.#initializing, timeoutMs, signal);
    if (this.#initialized) {
      this.#initialized = false;
      try {
        await this.#handler.onFinalize?.();
      } catch (e) {
        this.#emit('error', { error: toIpcError(e, 'ERR_HANDLER', 'onFinalize failed') });
      }
    }
    if (link && !link.conn.isClosed) {
      await within(link.conn.end(), timeoutMs, signal);
      link.conn.close();
    }
    await this.#loopDone;

    for (const entry of this.#serverSubs.values()) for (const sub of entry.locals) sub[END]();
    this.#serverSubs.clear();
    this.#trie.clear();
    this.#emit('closed', error ? { error } : {});
    this.#closed.resolve(this.#closeError);
  }

  // -------------------------------------------------------------------------------------------
  // Events
  // -------------------------------------------------------------------------------------------

  /** Calls every listener; a throwing one is reported as 'error' and the rest still run. */
  #emit<K extends keyof IpcClientEvents>(type: K, event: IpcClientEvents[K]): void {
    const listeners = (this.events.all.get(type) ?? []) as Handler<IpcClientEvents[K]>[];
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (e) {
        if (type !== 'error') {
          this.#emit('error', {
            error: toIpcError(e, 'ERR_HANDLER', `'${String(type)}' listener threw`),
          });
        }
      }
    }
    const wildcards = (this.events.all.get('*') ?? []) as ((
      t: keyof IpcClientEvents,
      e: unknown,
    ) => void)[];
    for (const listener of [...wildcards]) {
      try {
        listener(type, event);
      } catch {
        // A throwing catch-all listener must not break the client either.
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// BroadcastSender and builder
// ---------------------------------------------------------------------------------------------

/**
 * A send-only handle for broadcasts (mechutil's `BroadcastSender`): cheap to pass around to the
 * parts of a module that publish values, without handing them the whole client.
 *
 * @example
 * ```ts
 * const sender = client.broadcastSender();
 * sender.send('press1.temperature', 71.5);
 * ```
 */
export class BroadcastSender {
  readonly #client: IpcClient;

  /** @internal Made by {@link IpcClient.broadcastSender}. */
  constructor(client: IpcClient) {
    this.#client = client;
  }

  /** True when a broadcast sent now would go out. */
  get isConnected(): boolean {
    return this.#client.isConnected;
  }

  /** Same as {@link IpcClient.broadcast}: throws ERR_CONNECTION when not connected. */
  send(topic: string, data: unknown = null): void {
    this.#client.broadcast(topic, data);
  }

  /** Like `send`, but returns false instead of throwing when it cannot be sent for any reason. */
  trySend(topic: string, data: unknown = null): boolean {
    try {
      this.#client.broadcast(topic, data);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Fluent construction of an {@link IpcClient} (mechutil's `IpcClientBuilder`). Each setter
 * sets the {@link IpcClientOptions} member of the same meaning.
 *
 * @example
 * ```ts
 * const client = await IpcClient.builder(tcpConnector('127.0.0.1:9100'), handler)
 *   .name('press1')
 *   .version('1.0.0')
 *   .token(secret)
 *   .requestTimeout(5000)
 *   .reconnect({ initialDelayMs: 200 })
 *   .connect({ timeoutMs: 30_000 });
 * ```
 */
export class IpcClientBuilder {
  readonly #connector: Connector;
  readonly #handler: ModuleHandler;
  readonly #options: IpcClientOptions = {};

  constructor(connector: Connector, handler: ModuleHandler) {
    this.#connector = connector;
    this.#handler = handler;
  }

  /** Module name. */
  name(name: string): this {
    this.#options.name = name;
    return this;
  }
  /** Module version. */
  version(version: string): this {
    this.#options.version = version;
    return this;
  }
  /** Topics served, sent with Register. */
  capabilities(capabilities: string[]): this {
    this.#options.capabilities = capabilities;
    return this;
  }
  /** Authentication token. */
  token(token: string): this {
    this.#options.token = token;
    return this;
  }
  /** Default request deadline in ms. */
  requestTimeout(ms: number): this {
    this.#options.requestTimeoutMs = ms;
    return this;
  }
  /** Heartbeat interval in ms until the server's RegisterAck says otherwise. */
  heartbeat(ms: number): this {
    this.#options.heartbeatMs = ms;
    return this;
  }
  /** Requests awaiting their Response at once. */
  maxInflight(n: number): this {
    this.#options.maxInflight = n;
    return this;
  }
  /** Reconnect on/off, or its schedule. */
  reconnect(reconnect: boolean | ReconnectOptions): this {
    this.#options.reconnect = reconnect;
    return this;
  }
  /** Retry a failing first connection (default true). */
  retryFirstConnect(retry: boolean): this {
    this.#options.retryFirstConnect = retry;
    return this;
  }
  /** Opt-in buffer for requests made while disconnected; `undefined` turns it off. */
  offlineBuffer(buffer: OfflineBufferOptions | undefined): this {
    this.#options.offlineBuffer = buffer;
    return this;
  }
  /** Largest inbound payload in bytes. */
  maxPayload(bytes: number): this {
    this.#options.maxPayload = bytes;
    return this;
  }
  /** Frame completion deadline in ms. */
  frameTimeout(ms: number): this {
    this.#options.frameTimeoutMs = ms;
    return this;
  }
  /** Deadline of one connection attempt in ms. */
  handshakeTimeout(ms: number): this {
    this.#options.handshakeTimeoutMs = ms;
    return this;
  }
  /** What to do on the server's Finalize. */
  onServerFinalize(action: ServerFinalizeAction): this {
    this.#options.onServerFinalize = action;
    return this;
  }
  /** Merges any other options. */
  options(options: IpcClientOptions): this {
    Object.assign(this.#options, options);
    return this;
  }

  /** The options collected so far (a copy). */
  build(): IpcClientOptions {
    return { ...this.#options };
  }

  /** Connects with the collected options; `signal`/`timeoutMs` bound the wait (see {@link IpcClient.connect}). */
  connect(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<IpcClient> {
    const o = this.build();
    if (options.signal) o.signal = options.signal;
    if (options.timeoutMs !== undefined) o.connectTimeoutMs = options.timeoutMs;
    return IpcClient.connect(this.#connector, this.#handler, o);
  }
}
