/**
 * WebSocket transport: the browser's native WebSocket, or any W3C-compatible constructor
 * injected by the caller (in Node: the `ws` package). Isomorphic: no Node APIs here.
 */
import { IpcError } from '../core/errors.ts';
import { DEFAULT_MAX_QUEUED_BYTES, InboundQueue, type Connector, type Transport } from './transport.ts';

/** The subprotocol this SDK speaks (PROTOCOL.md section 7). */
export const WS_SUBPROTOCOL = 'autocore-ipc.v1';

/** The W3C WebSocket surface this transport uses; `globalThis.WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  readonly protocol: string;
  readonly url: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string; wasClean?: boolean }) => void) | null;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor (W3C signature). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Options of {@link connectWebSocket}. */
export interface WebSocketTransportOptions {
  /** Constructor to use. Default `globalThis.WebSocket`; in Node pass `ws`'s `WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /**
   * `'text'`: one bare JSON CommandMessage per WebSocket text message (the form autocore-server's
   * own endpoint uses). `'binary'`: one TCP frame (header + JSON) per binary message.
   * Default `'text'`.
   */
  mode?: 'text' | 'binary';
  /** Bridge token, offered as the subprotocol entry `bearer.<token>` (browsers cannot set headers). */
  token?: string;
  /** Close the connection when more than this many bytes wait to be sent. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** Abort the connection attempt. */
  signal?: AbortSignal;
  /** Give up connecting after this long. Default 10 000 ms. */
  timeoutMs?: number;
}

const OPEN = 1;

/** Bytes sent in one tick past which they leave early, once per tick (as the TCP transport does). */
const EARLY_FLUSH_BYTES = 4 * 1024;

/**
 * Node's `process.nextTick`, looked up rather than imported (this file runs in browsers too): it
 * runs a callback once every microtask of the current job has run, i.e. after the whole burst of
 * sends that one incoming chunk sets off, which a microtask of its own would cut short.
 */
const nextTick = (globalThis as { process?: { nextTick?: (fn: () => void) => void } }).process
  ?.nextTick;

/** An HTTP token (RFC 9110): the only characters a WebSocket subprotocol entry may hold. */
const SUBPROTOCOL_TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/**
 * Why `token` cannot travel as the subprotocol `bearer.<token>`, if it cannot. Browsers throw a
 * SyntaxError from the WebSocket constructor for such a token on every attempt, which a
 * reconnecting client would otherwise retry forever. The message never quotes the token.
 */
function tokenError(token: unknown): IpcError | undefined {
  if (token === undefined || (typeof token === 'string' && SUBPROTOCOL_TOKEN.test(token))) {
    return undefined;
  }
  return new IpcError(
    'ERR_INVALID_ARGUMENT',
    "token must be a non-empty string of letters, digits and !#$%&'*+-.^_`|~ " +
      '(it is sent as the WebSocket subprotocol bearer.<token>)',
  );
}

/**
 * A {@link Transport} over one WebSocket.
 *
 * @example
 * ```ts
 * const t = await connectWebSocket('ws://127.0.0.1:9101', { token });
 * ```
 */
export class WebSocketTransport implements Transport {
  readonly framing: 'frames' | 'json';
  readonly remoteAddress: string;
  readonly closed: Promise<IpcError | undefined>;
  private readonly ws: WebSocketLike;
  private readonly inbound = new InboundQueue<Uint8Array | string>();
  private readonly maxQueuedBytes: number;
  private closing = false;
  /** Bytes sent in this tick while `ws`'s Node socket is corked (see batchWrites); -1: not corked. */
  private tickBytes = -1;
  private closeError: IpcError | undefined;
  private resolveClosed!: (e: IpcError | undefined) => void;

  constructor(ws: WebSocketLike, mode: 'text' | 'binary', maxQueuedBytes = DEFAULT_MAX_QUEUED_BYTES) {
    this.ws = ws;
    this.framing = mode === 'binary' ? 'frames' : 'json';
    this.remoteAddress = ws.url;
    this.maxQueuedBytes = maxQueuedBytes;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    // Node's `ws` hands out a message as a Buffer over the bytes it read ('nodebuffer'); asking
    // it for an ArrayBuffer costs a copy per message. Browsers ignore the value they do not know
    // and get 'arraybuffer', which they deliver without a copy.
    ws.binaryType = 'nodebuffer';
    if (ws.binaryType !== 'nodebuffer') ws.binaryType = 'arraybuffer';
    ws.onmessage = (ev) => {
      const data = ev.data;
      if (typeof data === 'string') this.inbound.push(data);
      else if (data instanceof ArrayBuffer) this.inbound.push(new Uint8Array(data));
      else if (ArrayBuffer.isView(data)) {
        this.inbound.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
    };
    ws.onerror = () => {
      this.closeError ??= new IpcError('ERR_CONNECTION', `WebSocket ${this.remoteAddress} failed`);
    };
    ws.onclose = (ev) => {
      if (!this.closing && ev.code !== 1000) {
        this.closeError ??= new IpcError(
          'ERR_CONNECTION',
          `WebSocket ${this.remoteAddress} closed with code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''}`,
        );
      }
      this.closing = true;
      this.inbound.finish();
      this.resolveClosed(this.closeError);
    };
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get isClosed(): boolean {
    return this.closing || this.ws.readyState !== OPEN;
  }

  send(data: Uint8Array | string): void {
    if (this.isClosed) return;
    this.batchWrites(typeof data === 'string' ? data.length : data.byteLength);
    this.ws.send(data);
    if (this.ws.bufferedAmount > this.maxQueuedBytes) {
      this.close(
        new IpcError(
          'ERR_SLOW_CONSUMER',
          `WebSocket ${this.remoteAddress}: ${this.ws.bufferedAmount} bytes queued, over ${this.maxQueuedBytes}`,
        ),
      );
    }
  }

  /**
   * Node's `ws` writes every message with its own system call (the largest cost of a busy
   * connection, on both ends); corking its socket until the end of the current tick sends the
   * messages of one burst (e.g. the requests a chunk of responses sets off) in one write. As the
   * TCP transport does, once the tick has sent a few KiB (characters stand in for bytes) they
   * leave at once, so the peer starts on them while this process goes on with the rest.
   * Browsers batch by themselves and have no such socket, so this does nothing there.
   */
  private batchWrites(size: number): void {
    const socket = (this.ws as { _socket?: { cork?(): void; uncork(): void } | null })._socket;
    if (typeof socket?.cork !== 'function' || !nextTick) return;
    const sent = this.tickBytes;
    if (sent < 0) {
      socket.cork();
      nextTick(() => {
        this.tickBytes = -1;
        socket.uncork();
      });
    } else if (sent < EARLY_FLUSH_BYTES && sent + size >= EARLY_FLUSH_BYTES) {
      socket.uncork();
      socket.cork();
    }
    this.tickBytes = Math.max(sent, 0) + size;
  }

  end(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      // A close frame is queued behind the data already sent, so this flushes first.
      this.ws.close(1000);
    }
    return this.closed.then(() => undefined);
  }

  close(error?: IpcError): void {
    if (error) this.closeError ??= error;
    if (this.closing && this.ws.readyState > OPEN) return;
    this.closing = true;
    // Browsers only let scripts close with 1000 or 3000-4999; the reason carries the detail.
    this.ws.close(error ? 4000 : 1000, error ? error.code : undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array | string> {
    return this.inbound;
  }
}

/**
 * Opens a WebSocket and resolves once it is open. Rejects with ERR_CONNECTION (refused,
 * closed during the handshake, e.g. HTTP 401/403 from the bridge), ERR_TIMEOUT or ERR_ABORTED,
 * and with ERR_INVALID_ARGUMENT for a `token` a subprotocol cannot carry.
 *
 * @example
 * ```ts
 * import WebSocket from 'ws'; // Node only; browsers use their own
 * const t = await connectWebSocket('ws://127.0.0.1:9101', { WebSocket, token: 'secret' });
 * ```
 */
export function connectWebSocket(
  url: string,
  options: WebSocketTransportOptions = {},
): Promise<WebSocketTransport> {
  const Ctor =
    options.WebSocket ??
    (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Ctor) {
    return Promise.reject(
      new IpcError(
        'ERR_INVALID_ARGUMENT',
        'No WebSocket constructor: this runtime has no global WebSocket; pass options.WebSocket (e.g. the `ws` package in Node)',
      ),
    );
  }
  const badToken = tokenError(options.token);
  if (badToken) return Promise.reject(badToken);
  const { signal, timeoutMs = 10_000 } = options;
  if (signal?.aborted) {
    return Promise.reject(new IpcError('ERR_ABORTED', `connect to ${url} aborted`, { cause: signal.reason }));
  }
  const protocols = [WS_SUBPROTOCOL];
  if (options.token !== undefined) protocols.push(`bearer.${options.token}`);
  return new Promise((resolve, reject) => {
    let ws: WebSocketLike;
    try {
      ws = new Ctor(url, protocols);
    } catch (e) {
      reject(new IpcError('ERR_INVALID_ARGUMENT', `cannot open WebSocket ${url}: ${String(e)}`, { cause: e }));
      return;
    }
    let settled = false;
    const fail = (err: IpcError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ws.onopen = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // Closing a socket that never opened can throw in some runtimes; it is gone either way.
      }
      reject(err);
    };
    const onAbort = (): void => fail(new IpcError('ERR_ABORTED', `connect to ${url} aborted`, { cause: signal?.reason }));
    const timer = setTimeout(
      () => fail(new IpcError('ERR_TIMEOUT', `connect to ${url} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    ws.onerror = () => fail(new IpcError('ERR_CONNECTION', `cannot connect to ${url}`));
    ws.onclose = (ev) =>
      fail(new IpcError('ERR_CONNECTION', `cannot connect to ${url}: closed with code ${ev.code}`));
    ws.onopen = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(new WebSocketTransport(ws, options.mode ?? 'text', options.maxQueuedBytes));
    };
  });
}

/**
 * A {@link Connector} that opens a WebSocket to `url` each time (for IpcClient reconnects).
 * Throws IpcError ERR_INVALID_ARGUMENT at once for a `token` a subprotocol cannot carry.
 *
 * @example
 * ```ts
 * const client = await IpcClient.connect(webSocketConnector('ws://localhost:9101', { token }), handler);
 * ```
 */
export function webSocketConnector(url: string, options: WebSocketTransportOptions = {}): Connector {
  const badToken = tokenError(options.token);
  if (badToken) throw badToken;
  return ({ signal }) => connectWebSocket(url, signal ? { ...options, signal } : options);
}
