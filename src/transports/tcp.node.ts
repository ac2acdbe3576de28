/**
 * TCP transport over `node:net` (and `node:tls` when asked): the only `node:net` user in src/.
 */
import net from 'node:net';
import tls from 'node:tls';
import { IpcError } from '../core/errors.ts';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  DEFAULT_MAX_QUEUED_BYTES,
  InboundQueue,
  parseAddress,
  type Transport,
  type TransportOptions,
} from './transport.ts';

/** Bytes sent in one tick past which they are written at once rather than at the tick's end. */
const TICK_FLUSH_BYTES = 64 * 1024;
/** Bytes sent in one tick past which they leave early, once per tick (see `send`). */
const EARLY_FLUSH_BYTES = 4 * 1024;

/** Options of {@link connectTcp}. */
export interface TcpConnectOptions extends TransportOptions {
  /** Abort the connection attempt. */
  signal?: AbortSignal;
  /** Give up connecting after this long. Default 10 000 ms. */
  timeoutMs?: number;
  /** Connect with TLS using these options (same framing inside). Default: plain TCP. */
  tls?: tls.ConnectionOptions;
}

/**
 * A {@link Transport} over one `net.Socket`. Nagle is off; units sent in the same tick are
 * written together, as one chunk; when the socket is full, further units wait in this
 * transport's own queue until `drain`, and a peer that lets that queue grow past
 * `maxQueuedBytes`, or takes nothing for `drainTimeoutMs`, is closed as a slow consumer.
 *
 * @example
 * ```ts
 * const transport = await connectTcp('127.0.0.1:9100');
 * ```
 */
export class TcpTransport implements Transport {
  readonly framing = 'frames' as const;
  readonly remoteAddress: string;
  readonly closed: Promise<IpcError | undefined>;
  private readonly socket: net.Socket;
  private readonly inbound: InboundQueue<Uint8Array>;
  private readonly maxQueuedBytes: number;
  private readonly drainTimeoutMs: number;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private waitingDrain = false;
  /** Units sent in this tick, written together at its end (see send). */
  private tick: Uint8Array[] = [];
  private tickBytes = 0;
  /** This tick has already written its first few KiB early (see send). */
  private tickSplit = false;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private closing = false;
  private resolveClosed!: (e: IpcError | undefined) => void;
  private closeError: IpcError | undefined;

  constructor(socket: net.Socket, options: TransportOptions = {}) {
    this.socket = socket;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.drainTimeoutMs = options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.setNoDelay(true);
    this.inbound = new InboundQueue<Uint8Array>(
      () => socket.pause(),
      () => socket.resume(),
    );
    socket.on('data', (chunk: Buffer) => this.inbound.push(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => {
      this.closeError ??= new IpcError('ERR_CONNECTION', `connection to ${this.remoteAddress} failed: ${err.message}`, {
        cause: err,
      });
    });
    socket.on('close', () => this.onClose());
  }

  get bufferedAmount(): number {
    return this.tickBytes + this.pendingBytes + this.socket.writableLength;
  }

  get isClosed(): boolean {
    return this.closing;
  }

  send(data: Uint8Array | string): void {
    if (this.closing) return;
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (this.waitingDrain) {
      this.queue(bytes);
      return;
    }
    const units = this.tick;
    const n = units.length;
    if (n === 0) process.nextTick(this.endTick);
    const last = n === 0 ? undefined : (units[n - 1] as Uint8Array);
    if (last !== undefined && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      // Frames that lie back to back in one buffer (relayed from one read, or encoded one after
      // the other into one block) leave as one view of it: nothing to copy at the tick's end.
      units[n - 1] = new Uint8Array(bytes.buffer, last.byteOffset, last.length + bytes.length);
    } else {
      units.push(bytes);
    }
    this.tickBytes += bytes.length;
    if (this.tickBytes >= TICK_FLUSH_BYTES) {
      // A tick that sends a lot goes out now, so the socket's back-pressure (and the
      // slow-consumer limit) applies to it as it would unit by unit.
      this.flushTick();
    } else if (!this.tickSplit && this.tickBytes >= EARLY_FLUSH_BYTES) {
      // Once per tick, the first few KiB leave at once: the peer starts on them while this
      // process goes on with the rest. Without it, a batch of pipelined requests crosses every
      // process as one block, so only one process works at a time.
      this.tickSplit = true;
      this.flushTick();
    }
  }

  /** End of a tick: what it sent goes out. Made once (a closure per tick would be an allocation). */
  private readonly endTick = (): void => {
    this.tickSplit = false;
    this.flushTick();
  };

  /**
   * Writes the units of this tick as ONE chunk (copied together when there are several): one
   * socket.write per tick instead of one per unit, each of which costs a trip through Node's
   * stream machinery (the cork/uncork this replaces still paid that per unit).
   */
  private flushTick(): void {
    const units = this.tick;
    if (units.length === 0) return;
    const bytes = this.tickBytes;
    this.tick = [];
    this.tickBytes = 0;
    if (this.socket.destroyed) return;
    const chunk = units.length === 1 ? (units[0] as Uint8Array) : Buffer.concat(units, bytes);
    if (this.waitingDrain) {
      this.queue(chunk);
      return;
    }
    if (!this.socket.write(chunk)) this.startWaiting();
  }

  /**
   * Queues a unit until `drain`. A small view into a larger buffer (a frame carved from a shared
   * block, a broadcast relayed as a view of the socket chunk it came in) is copied first: queued
   * for a slow peer, each such view would keep its whole block alive, tens of KiB for a few
   * hundred bytes.
   */
  private queue(bytes: Uint8Array): void {
    const owned = bytes.byteLength * 2 >= bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    this.pending.push(owned);
    this.pendingBytes += owned.length;
    if (this.bufferedAmount > this.maxQueuedBytes) this.slowConsumer('queue over the limit');
  }

  private startWaiting(): void {
    this.waitingDrain = true;
    if (this.bufferedAmount > this.maxQueuedBytes) {
      this.slowConsumer('queue over the limit');
      return;
    }
    this.armDrainTimer();
  }

  private armDrainTimer(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = setTimeout(
      () => this.slowConsumer(`nothing taken for ${this.drainTimeoutMs} ms`),
      this.drainTimeoutMs,
    );
    this.drainTimer.unref?.();
  }

  private onDrain(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    this.waitingDrain = false;
    if (this.pending.length === 0) return;
    const queued = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.cork();
    let i = 0;
    for (; i < queued.length; i++) {
      if (!this.socket.write(queued[i]!)) {
        i++;
        break;
      }
    }
    this.socket.uncork();
    if (i < queued.length) {
      this.pending = queued.slice(i);
      for (const b of this.pending) this.pendingBytes += b.length;
    }
    if (this.socket.writableNeedDrain) this.startWaiting();
  }

  private slowConsumer(why: string): void {
    this.close(
      new IpcError(
        'ERR_SLOW_CONSUMER',
        `slow consumer ${this.remoteAddress} closed: ${why} (${this.bufferedAmount} bytes queued)`,
      ),
    );
  }

  end(): Promise<void> {
    if (!this.closing) {
      this.flushTick();
      this.closing = true;
      if (this.pending.length === 0) this.socket.end();
      else {
        // Flush what waits for drain first, then FIN.
        const finish = (): void => {
          if (this.pending.length === 0 && !this.socket.writableNeedDrain) this.socket.end();
          else this.socket.once('drain', () => setImmediate(finish));
        };
        this.socket.once('drain', () => setImmediate(finish));
      }
    }
    return this.closed.then(() => undefined);
  }

  close(error?: IpcError): void {
    if (error) this.closeError ??= error;
    this.closing = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.tick = [];
    this.tickBytes = 0;
    this.socket.destroy();
  }

  private onClose(): void {
    this.closing = true;
    clearTimeout(this.drainTimer);
    this.inbound.finish();
    this.resolveClosed(this.closeError);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.inbound;
  }
}

/**
 * Opens a TCP (or TLS) connection to `address` (`host:port`).
 * Rejects with ERR_CONNECTION when it cannot connect, ERR_TIMEOUT or ERR_ABORTED.
 *
 * @example
 * ```ts
 * const transport = await connectTcp('127.0.0.1:9100', { timeoutMs: 2000 });
 * ```
 */
export function connectTcp(address: string, options: TcpConnectOptions = {}): Promise<TcpTransport> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseAddress(address));
  } catch (e) {
    return Promise.reject(e);
  }
  const { signal, timeoutMs = 10_000 } = options;
  if (signal?.aborted) {
    return Promise.reject(new IpcError('ERR_ABORTED', `connect to ${address} aborted`, { cause: signal.reason }));
  }
  return new Promise((resolve, reject) => {
    const readyEvent = options.tls ? 'secureConnect' : 'connect';
    const socket = options.tls
      ? tls.connect({ ...options.tls, host, port })
      : net.connect({ host, port });
    const fail = (err: IpcError): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onError = (err: Error): void =>
      fail(new IpcError('ERR_CONNECTION', `cannot connect to ${address}: ${err.message}`, { cause: err }));
    const onAbort = (): void =>
      fail(new IpcError('ERR_ABORTED', `connect to ${address} aborted`, { cause: signal?.reason }));
    const timer = setTimeout(
      () => fail(new IpcError('ERR_TIMEOUT', `connect to ${address} timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off(readyEvent, onReady);
      signal?.removeEventListener('abort', onAbort);
    };
    const onReady = (): void => {
      cleanup();
      resolve(new TcpTransport(socket, options));
    };
    socket.once('error', onError);
    socket.once(readyEvent, onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options of {@link listenTcp}. */
export interface TcpListenOptions extends TransportOptions {
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one. Default 9100. */
  port?: number;
  /** Serve TLS with these options (same framing inside). Default: plain TCP. */
  tls?: tls.TlsOptions;
  /** Connections refused at accept beyond this many. Default 1024. */
  maxConnections?: number;
}

/**
 * A listening TCP server that hands each accepted connection over as a {@link Transport}.
 *
 * @example
 * ```ts
 * const listener = await listenTcp({ port: 0 }, (t) => serve(t));
 * console.log(listener.port);
 * await listener.close();
 * ```
 */
export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; open connections are left to their owners. */
  close(): Promise<void>;
}

/** Starts a TCP (or TLS) listener. */
export function listenTcp(
  options: TcpListenOptions,
  onConnection: (transport: TcpTransport) => void,
): Promise<TcpListener> {
  const host = options.host ?? '127.0.0.1';
  const server = options.tls
    ? tls.createServer(options.tls)
    : net.createServer({ noDelay: true });
  server.maxConnections = options.maxConnections ?? 1024;
  server.on(options.tls ? 'secureConnection' : 'connection', (socket: net.Socket) => {
    onConnection(new TcpTransport(socket, options));
  });
  // A TLS handshake failure belongs to one connection, not the listener.
  server.on('tlsClientError', () => {});
  return new Promise((resolve, reject) => {
    server.once('error', (err) =>
      reject(new IpcError('ERR_IO', `cannot listen on ${host}:${options.port ?? 9100}: ${err.message}`, { cause: err })),
    );
    server.listen(options.port ?? 9100, host, () => {
      const addr = server.address() as net.AddressInfo;
      resolve({
        host,
        port: addr.port,
        // net.Server.close() stops accepting at once but calls back only when every accepted
        // connection has ended; those belong to their owners, so do not wait for them.
        close: () => {
          if (server.listening) server.close();
          return new Promise<void>((done) => setImmediate(done));
        },
      });
    });
  });
}
