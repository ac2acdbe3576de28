/**
 * IpcServer: the hub listening on TCP (or TLS), mechutil's `IpcServer`.
 */
import { isIP } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { IpcError } from '../core/errors.ts';
import { listenTcp, type TcpListener } from '../transports/tcp.node.ts';
import { DEFAULT_DRAIN_TIMEOUT_MS, DEFAULT_MAX_QUEUED_BYTES } from '../transports/transport.ts';
import { IpcHub, type IpcHubOptions } from './ipc-hub.ts';

/**
 * Options of {@link IpcServer}: where to listen, plus every {@link IpcHubOptions} limit.
 * Defaults: host `127.0.0.1`, port 9100, allowNonLoopback false, no TLS, no authentication,
 * maxConnections 1024, maxPayload 4 MiB, preRegistrationMaxPayload 64 KiB, registrationTimeoutMs
 * 5000, initializeTimeoutMs 10 000, frameTimeoutMs 30 000, heartbeatMs 10 000, requestTimeoutMs
 * 10 000, maxInflightPerConnection 1024, maxSubscriptionsPerConnection 1024, maxQueuedBytes 8 MiB,
 * drainTimeoutMs 10 000, finalizeTimeoutMs 2000, serverName `'autocore-ipc'`, version: the
 * package's version.
 *
 * @example
 * ```ts
 * const options: IpcServerOptions = { port: 0, requestTimeoutMs: 5000 };
 * ```
 */
export interface IpcServerOptions extends IpcHubOptions {
  /** Interface to bind. Default `'127.0.0.1'`. A non-loopback host needs `allowNonLoopback`. */
  host?: string;
  /** TCP port; 0 picks a free one (read it from `server.port`). Default 9100. */
  port?: number;
  /**
   * Allow binding a host other than loopback (`127.0.0.0/8`, `::1`, `localhost`), which exposes
   * the server to other machines: pair it with `tls` and `authenticate`. Default false: such a
   * host is refused with ERR_INVALID_ARGUMENT.
   */
  allowNonLoopback?: boolean;
  /** Serve TLS with these `node:tls` options (same framing inside). Default: plain TCP. */
  tls?: TlsOptions;
  /** Outbound bytes queued towards one connection before it is closed as a slow consumer. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** Longest wait for a connection to take queued bytes before it is closed as a slow consumer. Default 10 000 ms. */
  drainTimeoutMs?: number;
}

/** Options of {@link IpcServer.close}. */
export interface IpcServerCloseOptions {
  /** Stop waiting for modules and connections at once and close them hard. */
  signal?: AbortSignal;
  /** Bound of each wait (Finalize answers, then flushing). Default: `finalizeTimeoutMs` (2000 ms). */
  timeoutMs?: number;
}

/**
 * True for a host only this machine can reach: `localhost`, `127.0.0.0/8`, `::1` (also in
 * brackets) and IPv4-mapped `::ffff:127.x.x.x`.
 *
 * @example
 * ```ts
 * isLoopbackHost('127.0.0.1'); // true
 * isLoopbackHost('0.0.0.0');   // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * The autocore-ipc server: the {@link IpcHub} listening on TCP. Modules connect, register,
 * serve their domain and talk to each other through it (PROTOCOL.md sections 4-5).
 *
 * @example
 * ```ts
 * import { IpcServer } from 'autocore-ipc/node';
 *
 * const server = await IpcServer.listen({ port: 9100 });
 * server.on('registered', (m) => console.log(`module ${m.name} ${m.version}`));
 * // ...
 * await server.close();
 * ```
 */
export class IpcServer extends IpcHub {
  private readonly host: string;
  private readonly requestedPort: number;
  private readonly listenOptions: IpcServerOptions;
  private listener: TcpListener | undefined;
  private starting: Promise<void> | undefined;

  /**
   * Creates a server; nothing listens until {@link IpcServer.start}. Throws ERR_INVALID_ARGUMENT
   * for invalid options, including a non-loopback `host` without `allowNonLoopback`.
   *
   * @example
   * ```ts
   * const server = new IpcServer({ port: 0 });
   * await server.start();
   * ```
   */
  constructor(options: IpcServerOptions = {}) {
    super(options);
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 9100;
    if (typeof host !== 'string' || host === '') {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        'Invalid option host: expected a host name or IP address',
      );
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `Invalid option port: expected 0-65535, got ${String(port)}`,
      );
    }
    if (!isLoopbackHost(host) && options.allowNonLoopback !== true) {
      throw new IpcError(
        'ERR_INVALID_ARGUMENT',
        `Refusing to listen on non-loopback host "${host}": other machines could connect. ` +
          'Set allowNonLoopback: true to allow it (and use tls and authenticate), or bind 127.0.0.1.',
      );
    }
    this.host = host;
    this.requestedPort = port;
    this.listenOptions = options;
  }

  /**
   * Creates a server and starts listening; resolves once it listens.
   *
   * @example
   * ```ts
   * const server = await IpcServer.listen({ port: 0 });
   * console.log(server.address); // '127.0.0.1:41234'
   * ```
   */
  static async listen(options: IpcServerOptions = {}): Promise<IpcServer> {
    const server = new IpcServer(options);
    await server.start();
    return server;
  }

  /**
   * Starts listening; resolves once the port is bound (at once if already listening). Rejects
   * with ERR_IO when the port cannot be bound, ERR_SHUTDOWN after `close()`.
   *
   * @example
   * ```ts
   * await server.start();
   * ```
   */
  start(): Promise<void> {
    if (this.isClosing) {
      return Promise.reject(new IpcError('ERR_SHUTDOWN', 'IpcServer.start() after close()'));
    }
    this.starting ??= this.bind();
    return this.starting;
  }

  private async bind(): Promise<void> {
    const o = this.listenOptions;
    const listener = await listenTcp(
      {
        host: this.host,
        port: this.requestedPort,
        tls: o.tls,
        maxConnections: this.settings.maxConnections,
        maxQueuedBytes: o.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
        drainTimeoutMs: o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      },
      (transport) => this.accept(transport),
    );
    if (this.isClosing) {
      await listener.close();
      throw new IpcError('ERR_SHUTDOWN', 'IpcServer closed while starting');
    }
    this.listener = listener;
  }

  /** The bound port once listening (the configured one before). */
  get port(): number {
    return this.listener?.port ?? this.requestedPort;
  }

  /** `host:port` to connect to (`[v6]:port` for IPv6), e.g. for `connectTcp`. */
  get address(): string {
    return `${this.host.includes(':') && !this.host.startsWith('[') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /**
   * Shuts down: stops listening, sends Control/Finalize to every module and waits (bounded) for
   * the answers, fails pending requests with "Shutdown", closes every connection. Resolves when
   * all sockets are closed.
   *
   * @example
   * ```ts
   * await server.close({ timeoutMs: 1000 });
   * ```
   */
  override close(options: IpcServerCloseOptions = {}): Promise<void> {
    return super.close(options);
  }

  protected override async stopAccepting(): Promise<void> {
    // A start() in progress still has to finish binding before its listener can be closed.
    if (this.starting !== undefined) await this.starting.catch(() => undefined);
    await this.listener?.close();
  }
}
