/**
 * The WebSocket <-> TCP bridge (PROTOCOL.md section 7): an HTTP server whose WebSocket upgrades
 * are decided entirely in the `upgrade` handler (token, Origin, subprotocol, header and
 * connection limits) before anything is relayed; each accepted browser gets its own TCP
 * connection to the IPC server and is an ordinary module to it. `GET /healthz` and
 * `GET /metrics` (Prometheus text) are served on the same port.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { IpcError, WS_SUBPROTOCOL } from 'autocore-ipc';
import { WebSocketServer } from 'ws';
import {
  resolveBridgeOptions,
  type BridgeLogEntry,
  type BridgeOptions,
  type ResolvedToken,
} from './config.ts';
import { BridgeConnection } from './connection.ts';
import { checkHandshake } from './handshake.ts';
import { MetricsRegistry, type BridgeMetrics } from './metrics.ts';

/**
 * A running bridge.
 *
 * @example
 * ```ts
 * await using bridge = await createBridge({ port: 0, tokens: [{ token, names: ['hmi_*'], subscribe: ['>'] }] });
 * console.log(bridge.url); // ws://127.0.0.1:54321
 * ```
 */
export interface Bridge extends AsyncDisposable {
  /** `ws://host:port` to connect to. */
  readonly url: string;
  /** The host it listens on. */
  readonly host: string;
  /** The port it listens on (the real one when 0 was asked). */
  readonly port: number;
  /** A snapshot of the counters (the same ones `GET /metrics` shows). */
  metrics(): BridgeMetrics;
  /**
   * Stops listening, closes every WebSocket with 1001 and every TCP connection to the server,
   * and resolves once all of them are closed. Safe to call more than once.
   */
  close(): Promise<void>;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  // Only the path is ever logged: a query string could hold a (refused) token.
  return (q < 0 ? url : url.slice(0, q)).slice(0, 128);
}

function clip(v: string | string[] | undefined, max = 128): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Writes a minimal HTTP error response on a socket that was never upgraded, then closes it. */
function refuseSocket(
  socket: Duplex,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
  // A peer that never reads must not keep the socket: drop it after a short while regardless.
  setTimeout(() => socket.destroy(), 2000).unref();
}

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * Starts a bridge and resolves once it listens. Rejects with `IpcError` `ERR_INVALID_ARGUMENT`
 * for invalid options (naming the field), or `ERR_IO` when it cannot listen.
 *
 * @example
 * ```ts
 * const bridge = await createBridge({
 *   host: '127.0.0.1',
 *   port: 9101,
 *   upstream: '127.0.0.1:9100',
 *   origins: ['http://localhost:5173'],
 *   tokens: [{ token: process.env.HMI_TOKEN!, names: ['hmi_*'], request: ['press1.>'], subscribe: ['press1.>'] }],
 * });
 * // in the browser: connectWebSocket(bridge.url, { token })
 * await bridge.close();
 * ```
 */
export async function createBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const opts = resolveBridgeOptions(options);
  const { limits } = opts;
  const registry = new MetricsRegistry();
  const connections = new Set<BridgeConnection>();
  const perToken = new Map<ResolvedToken, number>();
  let reserved = 0;
  let nextId = 1;
  let closing = false;
  let closePromise: Promise<void> | undefined;

  const scrub = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const secret of opts.secrets)
        if (out.includes(secret)) out = out.split(secret).join('[redacted]');
      return out;
    }
    return Array.isArray(v) ? v.map(scrub) : v;
  };
  const log = (
    level: BridgeLogEntry['level'],
    event: string,
    fields: Record<string, unknown>,
  ): void => {
    const clean: Record<string, unknown> = {};
    // Values a client chose (path, origin, topic, name) could hold a token by mistake.
    for (const [k, v] of Object.entries(fields)) clean[k] = scrub(v);
    try {
      opts.log({ time: new Date().toISOString(), level, event, ...clean });
    } catch {
      // A failing logger must not take the bridge down.
    }
  };

  const server = http.createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    // Node enforces headersTimeout/requestTimeout only when it sweeps its connections, every
    // 30 s by default: a handshake trickled byte by byte (or never sent) would hold its socket
    // for up to 40 s instead of 10. Sweeping four times a second keeps it within a quarter.
    connectionsCheckingInterval: 250,
  });
  // One more than allowed, so an over-full handshake is seen (Node silently drops the excess).
  server.maxHeadersCount = limits.maxHeadersCount + 1;

  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: limits.maxMessageBytes,
    clientTracking: false,
    // Select our subprotocol and nothing else: the `bearer.<token>` entry is never echoed.
    handleProtocols: (protocols: Set<string>) =>
      protocols.has(WS_SUBPROTOCOL) ? WS_SUBPROTOCOL : false,
  });

  const release = (token: ResolvedToken): void => {
    reserved--;
    const n = (perToken.get(token) ?? 1) - 1;
    if (n <= 0) perToken.delete(token);
    else perToken.set(token, n);
  };

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    const deny = (
      status: number,
      reason: string,
      message: string,
      headers?: Record<string, string>,
    ): void => {
      registry.count('denials', reason);
      log('warn', 'deny', {
        remote,
        status,
        reason,
        path: pathOf(req.url),
        ...(req.headers.origin === undefined ? {} : { origin: clip(req.headers.origin) }),
      });
      refuseSocket(socket, status, message, headers);
    };

    if (closing) return deny(503, 'shutting_down', 'Shutting down');
    if (req.rawHeaders.length / 2 > limits.maxHeadersCount) {
      return deny(431, 'headers', 'Too many request headers');
    }
    if (reserved >= limits.maxConnections) {
      return deny(503, 'connection_limit', 'Too many connections', { 'Retry-After': '5' });
    }
    const verdict = checkHandshake(req, opts);
    if (!verdict.ok) {
      return deny(
        verdict.status,
        verdict.reason,
        verdict.message,
        verdict.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : undefined,
      );
    }
    const token = verdict.token;
    const held = perToken.get(token) ?? 0;
    if (held >= token.maxConnections) {
      return deny(429, 'token_connection_limit', 'Too many connections for this token', {
        'Retry-After': '5',
      });
    }
    reserved++;
    perToken.set(token, held + 1);

    let accepted = false;
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      const id = nextId++;
      registry.m.connectionsTotal++;
      registry.m.connectionsCurrent++;
      const fields = { conn: id, remote, tokenId: token.id };
      log('info', 'connect', {
        ...fields,
        auth: verdict.source,
        path: pathOf(req.url),
        ...(req.headers.origin === undefined ? {} : { origin: clip(req.headers.origin) }),
      });
      const conn = new BridgeConnection(ws, {
        id,
        remote,
        token,
        options: opts,
        metrics: registry,
        log: (level, event, more) => log(level, event, { ...fields, ...more }),
        onClosed: (c) => {
          connections.delete(c);
          registry.m.connectionsCurrent--;
          release(token);
        },
      });
      connections.add(conn);
    });
    // ws refused it itself (bad method, key, version, ...) and has answered it already.
    if (!accepted) {
      release(token);
      registry.count('denials', 'bad_request');
      log('warn', 'deny', { remote, status: 400, reason: 'bad_request', path: pathOf(req.url) });
    }
  });

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    const reason = status === 431 ? 'headers' : 'bad_request';
    registry.count('denials', reason);
    log('warn', 'deny', { status, reason, detail: err.code ?? 'parse error' });
    refuseSocket(socket, status, http.STATUS_CODES[status] ?? 'Bad Request');
  });

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = pathOf(req.url);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'text/plain; charset=utf-8', 'Method Not Allowed\n');
    }
    if (path === '/healthz') {
      const body = JSON.stringify({
        status: closing ? 'closing' : 'ok',
        connections: registry.m.connectionsCurrent,
        upstream: opts.upstream,
      });
      return send(closing ? 503 : 200, 'application/json', body);
    }
    if (path === '/metrics')
      return send(200, 'text/plain; version=0.0.4; charset=utf-8', registry.prometheus());
    if (path === '/') {
      res.setHeader('Upgrade', 'websocket');
      return send(426, 'text/plain; charset=utf-8', 'Upgrade Required: connect with a WebSocket\n');
    }
    return send(404, 'text/plain; charset=utf-8', 'Not Found\n');
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new IpcError('ERR_IO', `cannot listen on ${opts.host}:${opts.port}: ${err.message}`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log('error', 'listen', { detail: err.message }));

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const url = `ws://${formatHost(opts.host)}:${port}`;

  const pingTimer =
    limits.pingIntervalMs > 0
      ? setInterval(() => {
          for (const c of connections) c.heartbeat();
        }, limits.pingIntervalMs)
      : undefined;
  pingTimer?.unref();

  log('info', 'listen', {
    url,
    upstream: opts.upstream,
    auth: opts.tokens.length > 0 ? 'token' : 'none',
    tokens: opts.tokens.length,
    origins: [...opts.origins],
  });

  const close = (): Promise<void> => {
    closePromise ??= (async () => {
      closing = true;
      clearInterval(pingTimer);
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...connections].map((c) => c.shutdown()));
      server.closeAllConnections();
      await serverClosed;
      wss.close();
      log('info', 'stop', { url });
    })();
    return closePromise;
  };

  return {
    url,
    host: opts.host,
    port,
    metrics: () => registry.snapshot(),
    close,
    [Symbol.asyncDispose]: close,
  };
}
