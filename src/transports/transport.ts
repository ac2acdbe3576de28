/**
 * The byte transport contract. A transport moves units of bytes between two peers and knows
 * nothing of CommandMessages: the client and server sit on top of it and never care whether it
 * is TCP or a WebSocket.
 */
import { IpcError } from '../core/errors.ts';

/**
 * How inbound and outbound units are shaped:
 * - `'frames'`: a byte stream of TCP frames (5-byte header + JSON), split anywhere;
 * - `'json'`: every unit is exactly one bare JSON CommandMessage (WebSocket text form).
 */
export type TransportFraming = 'frames' | 'json';

/**
 * A connected byte transport.
 *
 * @example
 * ```ts
 * const t = await connectTcp('127.0.0.1:9100');
 * t.send(encodeFrame(CommandMessage.request('system.ping')));
 * for await (const chunk of t) decoder.push(chunk as Uint8Array);
 * const why = await t.closed; // undefined after a clean close, else an IpcError
 * ```
 */
export interface Transport extends AsyncIterable<Uint8Array | string> {
  /** How units are shaped on this transport. */
  readonly framing: TransportFraming;
  /** The peer, for logs (`host:port`, or a URL). */
  readonly remoteAddress: string;
  /**
   * Queues one unit for sending: frame bytes, or (with `'json'` framing) JSON text. Units sent in
   * one tick leave together. Sending on a closed transport does nothing (see `closed`).
   */
  send(data: Uint8Array | string): void;
  /** Bytes this process holds for sending and the peer has not taken yet. */
  readonly bufferedAmount: number;
  /** True once the transport has closed, or started closing. */
  readonly isClosed: boolean;
  /** Flushes what is queued, then closes. Resolves when closed. */
  end(): Promise<void>;
  /** Closes at once, dropping what is queued; `error` becomes the `closed` value. */
  close(error?: IpcError): void;
  /** Resolves (never rejects) when closed: undefined for a clean close, else why it failed. */
  readonly closed: Promise<IpcError | undefined>;
}

/** Limits every transport applies to its outbound queue (PROTOCOL.md section 8). */
export interface TransportOptions {
  /** Largest outbound queue, in bytes, before the peer counts as a slow consumer. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** Longest wait for the peer to take queued bytes before it counts as a slow consumer. Default 10 000 ms. */
  drainTimeoutMs?: number;
}

/** Default of {@link TransportOptions.maxQueuedBytes}. */
export const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Default of {@link TransportOptions.drainTimeoutMs}. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * A connector opens a transport to an address; the client keeps one to reconnect with.
 *
 * @example
 * ```ts
 * const connector: Connector = (opts) => connectTcp('127.0.0.1:9100', opts);
 * ```
 */
export type Connector = (options: { signal?: AbortSignal }) => Promise<Transport>;

/**
 * Single-consumer queue behind a transport's async iterator. It tells its producer when to
 * stop reading (`onFull`) and when to read again (`onEmpty`), so a slow consumer pushes back
 * on the socket instead of growing memory.
 * @internal
 */
export class InboundQueue<T> implements AsyncIterableIterator<T> {
  private items: T[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<T>) => void) | null = null;
  private done = false;
  private full = false;

  constructor(
    private readonly onFull: () => void = () => {},
    private readonly onEmpty: () => void = () => {},
    private readonly highWater = 64,
  ) {}

  push(item: T): void {
    if (this.done) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = null;
      waiter({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (!this.full && this.items.length - this.head >= this.highWater) {
      this.full = true;
      this.onFull();
    }
  }

  /** No more items will come; the consumer still gets those queued. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    const waiter = this.waiter;
    if (waiter && this.head >= this.items.length) {
      this.waiter = null;
      waiter({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.items.length) {
      const value = this.items[this.head++] as T;
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
        if (this.full) {
          this.full = false;
          this.onEmpty();
        }
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.done = true;
    this.items = [];
    this.head = 0;
    if (this.full) {
      this.full = false;
      this.onEmpty();
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/**
 * Parses `host:port`, `[v6]:port` or `tcp://host:port`.
 *
 * @example
 * ```ts
 * parseAddress('127.0.0.1:9100'); // { host: '127.0.0.1', port: 9100 }
 * ```
 */
export function parseAddress(address: string): { host: string; port: number } {
  const rest = address.startsWith('tcp://') ? address.slice(6) : address;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(rest);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new IpcError(
      'ERR_INVALID_ARGUMENT',
      `Invalid address "${address}": expected host:port, e.g. 127.0.0.1:9100`,
    );
  }
  return { host: (m[1] ?? m[2]) as string, port };
}
