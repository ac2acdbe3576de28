/**
 * `npm start`: the whole system on one machine, in one process. The embedded IpcServer, the
 * WebSocket bridge (with a fresh random token for the console), the sample press module with its
 * simulation, and a small HTTP server for the web console and its `/config.json`. Ctrl-C or
 * SIGTERM finalizes the module, closes the bridge and the server, releases every port, exits 0.
 *
 *   npm start -- [--port 9100] [--bridge-port 9101] [--http-port 8080] [--module press1] [--no-open] [--no-build]
 *
 * Every port may be 0 (any free one). Once everything runs, one machine-readable line
 * `READY {"server":..., "bridgeUrl":..., "consoleUrl":..., "ports":{...}}` is printed on stdout.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { IpcClient, IpcServer, tcpConnector } from 'autocore-ipc/node';
import {
  createBridge,
  type Bridge,
  type BridgeLogEntry,
  type BridgeToken,
} from '../bridge/index.ts';
import { PressModule } from './press-module.ts';

/** Everything listens on loopback: the demo token is handed to any page served here. */
const HOST = '127.0.0.1';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Options of {@link startDemo}. Every member is optional.
 *
 * @example
 * ```ts
 * const demo = await startDemo({ port: 0, bridgePort: 0, httpPort: 0 });
 * ```
 */
export interface DemoOptions {
  /** Port of the IPC server; 0 = any free one. Default 9100. */
  port?: number;
  /** Port of the WebSocket bridge; 0 = any free one. Default 9101. */
  bridgePort?: number;
  /** Port of the console's HTTP server; 0 = any free one. Default 8080. */
  httpPort?: number;
  /** Name (domain) of the sample press module. Default `press1`. */
  moduleName?: string;
  /** Build the console with Vite when `web-demo/dist` is missing or older than its sources. Default true. */
  build?: boolean;
  /** The console's folder (its build goes to `<dir>/dist`). Default `<repo>/web-demo`. */
  webDemoDir?: string;
  /** Receives every human-readable log line. Default `console.log`. */
  log?: (line: string) => void;
}

/** What {@link startDemo} started, and where. */
export interface Demo extends AsyncDisposable {
  /** `host:port` of the IPC server (for modules and the CLI). */
  readonly serverAddress: string;
  /** `ws://host:port` of the bridge. */
  readonly bridgeUrl: string;
  /** `http://host:port/` of the console. */
  readonly consoleUrl: string;
  /** The bridge token handed to the console through `/config.json`. */
  readonly token: string;
  /** The bound ports (the real ones when 0 was asked). */
  readonly ports: { server: number; bridge: number; http: number };
  /** `built` when the console from `web-demo/dist` is served, else `placeholder` and why. */
  readonly console: { kind: 'built' | 'placeholder'; reason?: string };
  /** Finalizes the press module, closes the bridge, the server and the HTTP server. Idempotent. */
  close(): Promise<void>;
}

/** The browser console's permissions: its own names, read everything, broadcast on its own domain. */
function consolePermissions(token: string, pressDomain: string): BridgeToken {
  return {
    id: 'demo-console',
    token,
    names: ['console_*', 'hmi_*'],
    request: ['>'],
    subscribe: ['>'],
    // The wanted rule is "broadcast only on console_*.> and hmi_*.>", but a topic pattern
    // segment cannot be a glob (PROTOCOL.md section 6), so allow all and deny the domains a
    // console must never speak for: the server's and the press's.
    broadcast: ['>'],
    denyBroadcast: ['system.>', `${pressDomain}.>`],
  };
}

// ---------------------------------------------------------------------------------------------
// The console's HTTP server
// ---------------------------------------------------------------------------------------------

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

function contentType(file: string): string {
  const dot = file.lastIndexOf('.');
  return (dot >= 0 && CONTENT_TYPES[file.slice(dot).toLowerCase()]) || 'application/octet-stream';
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function placeholderPage(reason: string, bridgeUrl: string, server: string, press: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>autocore-ipc demo: console not built</title>
<link rel="icon" href="data:,">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem}code,pre{font-family:ui-monospace,monospace;background:#8881;padding:.1rem .3rem;border-radius:4px}pre{padding:.8rem}</style>
</head>
<body>
<h1>autocore-ipc demo</h1>
<p><strong>The web console is not built</strong>: ${escapeHtml(reason)}.</p>
<p>Everything else is running: the IPC server on <code>tcp://${escapeHtml(server)}</code>, the
bridge on <code>${escapeHtml(bridgeUrl)}</code> and the sample module <code>${escapeHtml(press)}</code>.</p>
<p>Build the console, then reload this page (or restart <code>npm start</code>):</p>
<pre>npx vite build web-demo</pre>
<p>Meanwhile, talk to the press from a terminal:</p>
<pre>npm run cli -- modules
npm run cli -- call ${escapeHtml(press)}.start
npm run cli -- call ${escapeHtml(press)}.set_speed '{"rpm": 1200}'
npm run cli -- listen '${escapeHtml(press)}.>' --count 10</pre>
</body>
</html>
`;
}

interface ConsoleFiles {
  kind: 'built' | 'placeholder';
  /** Real path of the built console (kind `built`). */
  root?: string;
  reason?: string;
}

/** The newest modification time of the files under `paths` (0 when none exist). */
function newestMtime(paths: string[]): number {
  let newest = 0;
  const visit = (path: string): void => {
    if (!existsSync(path)) return;
    const st = statSync(path);
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(p);
  return newest;
}

/**
 * Finds the built console, building it with Vite's JS API first when `dist` is missing or older
 * than its sources and the Vite config is there.
 */
async function prepareConsole(
  dir: string,
  build: boolean,
  log: (line: string) => void,
): Promise<ConsoleFiles> {
  const dist = join(dir, 'dist');
  const built = (): boolean => existsSync(join(dist, 'index.html'));
  // A build older than the console's or the SDK's sources would serve yesterday's console.
  const stale = (): boolean =>
    build &&
    newestMtime([join(dir, 'src'), join(dir, 'index.html'), join(dir, '..', 'src')]) >
      statSync(join(dist, 'index.html')).mtimeMs;
  if (built() && !stale()) return { kind: 'built', root: await realpath(dist) };
  const configFile = join(dir, 'vite.config.ts');
  if (!existsSync(configFile)) {
    return {
      kind: 'placeholder',
      reason: existsSync(dir) ? `${dir} has no vite.config.ts yet` : `${dir} does not exist yet`,
    };
  }
  if (!build) return { kind: 'placeholder', reason: `${dist} is missing (--no-build)` };
  log(`[console] ${built() ? `${dist} is older than its sources` : `${dist} is missing`}: building the console with Vite...`);
  try {
    const vite = await import('vite');
    await vite.build({ configFile, logLevel: 'warn' });
  } catch (e) {
    const message = (e as Error).message;
    log(`[console] the Vite build failed:\n${message}`);
    const lines = message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return {
      kind: 'placeholder',
      reason: `the Vite build failed: ${lines.slice(0, 3).join(' ').slice(0, 300)}`,
    };
  }
  if (!built()) return { kind: 'placeholder', reason: `the Vite build left no ${dist}/index.html` };
  log('[console] built');
  return { kind: 'built', root: await realpath(dist) };
}

/** Maps a request path to a file under `root`, or an HTTP status when it must not be served. */
async function resolveStatic(root: string, urlPath: string): Promise<string | 400 | 404> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 400;
  }
  if (decoded.includes('\0') || !decoded.startsWith('/')) return 400;
  const segments = decoded.split(/[\\/]/);
  // Refuse `..` outright (even where it would stay inside), and hide dotfiles.
  if (segments.some((s) => s === '..')) return 400;
  if (segments.some((s) => s.startsWith('.') && s !== '.')) return 404;
  let file = resolve(root, `.${decoded}`);
  if (file !== root && !file.startsWith(root + sep)) return 400;
  try {
    if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
    // A symlink inside the build must not lead out of it either.
    const real = await realpath(file);
    if (!real.startsWith(root + sep)) return 404;
    if (!(await stat(real)).isFile()) return 404;
    return real;
  } catch {
    return 404;
  }
}

interface HttpState {
  files: ConsoleFiles;
  /** Set once the bridge listens. */
  config: { bridgeUrl: string; token: string; moduleNames: string[] } | undefined;
  placeholder: string;
}

function send(
  res: http.ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  head: boolean,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    ...extra,
  });
  res.end(head ? undefined : body);
}

async function handleHttp(
  state: HttpState,
  allowedHosts: ReadonlySet<string>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const head = req.method === 'HEAD';
  const text = (status: number, msg: string, extra?: Record<string, string>): void =>
    send(res, status, 'text/plain; charset=utf-8', `${msg}\n`, head, extra);
  if (req.method !== 'GET' && !head) return text(405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  // Only our own host names: a DNS-rebinding page must not read the token in /config.json.
  const host = req.headers.host;
  if (host !== undefined && !allowedHosts.has(host.toLowerCase()))
    return text(403, 'Forbidden host');
  const raw = req.url ?? '/';
  const path = raw.split(/[?#]/, 1)[0] ?? '/';
  if (path === '/config.json') {
    if (!state.config) return text(503, 'Starting, try again');
    return send(res, 200, CONTENT_TYPES['.json'] as string, JSON.stringify(state.config), head, {
      'Cache-Control': 'no-store',
    });
  }
  const { files } = state;
  if (files.kind === 'placeholder' || files.root === undefined) {
    if (path === '/' || path === '/index.html') {
      return send(res, 200, CONTENT_TYPES['.html'] as string, state.placeholder, head, {
        'Cache-Control': 'no-store',
      });
    }
    return text(404, 'Not Found');
  }
  const file = await resolveStatic(files.root, path);
  if (file === 400) return text(400, 'Bad Request');
  if (file === 404) return text(404, 'Not Found');
  const body = await readFile(file);
  const type = contentType(file);
  send(res, 200, type, body, head, {
    'Cache-Control': type.startsWith('text/html') ? 'no-cache' : 'public, max-age=300',
  });
}

function listenHttp(server: http.Server, port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolvePort((server.address() as AddressInfo).port);
    });
  });
}

function closeHttp(server: http.Server): Promise<void> {
  return new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

/** A bridge log entry as one short line (the token never appears in entries). */
function bridgeLogLine(e: BridgeLogEntry): string {
  const { time: _time, level: _level, event, ...rest } = e;
  const fields = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `[bridge] ${event}${fields.length ? ` ${fields.join(' ')}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

/**
 * Starts the IPC server, the HTTP server, the bridge and the press module, in that order (the
 * bridge's allowed origin is the console's, known once the HTTP server listens). If a step
 * fails, what already runs is closed and the error is thrown.
 *
 * @example
 * ```ts
 * await using demo = await startDemo({ port: 0, bridgePort: 0, httpPort: 0 });
 * console.log(demo.consoleUrl);
 * ```
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const log = options.log ?? ((line: string) => console.log(line));
  const moduleName = options.moduleName ?? 'press1';
  const token = randomBytes(24).toString('base64url');
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (e) {
        log(`[demo] error while stopping: ${(e as Error).message}`);
      }
    }
  };

  try {
    const files = await prepareConsole(
      options.webDemoDir ?? join(ROOT, 'web-demo'),
      options.build ?? true,
      log,
    );

    const server = await IpcServer.listen({ host: HOST, port: options.port ?? 9100 });
    cleanups.push(() => server.close());
    server.on('registered', (m) =>
      log(`[server] module ${m.name} registered from ${m.remoteAddress}`),
    );
    server.on('disconnected', (m) => log(`[server] ${m.name ?? m.remoteAddress} left`));

    const state: HttpState = { files, config: undefined, placeholder: '' };
    const allowedHosts = new Set<string>();
    const httpServer = http.createServer((req, res) => {
      handleHttp(state, allowedHosts, req, res).catch(() => {
        if (!res.headersSent)
          send(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error\n', false);
        else res.destroy();
      });
    });
    const httpPort = await listenHttp(httpServer, options.httpPort ?? 8080);
    cleanups.push(() => closeHttp(httpServer));
    allowedHosts.add(`${HOST}:${httpPort}`).add(`localhost:${httpPort}`);
    const consoleUrl = `http://${HOST}:${httpPort}/`;

    const bridge: Bridge = await createBridge({
      host: HOST,
      port: options.bridgePort ?? 9101,
      upstream: server.address,
      origins: [`http://${HOST}:${httpPort}`, `http://localhost:${httpPort}`],
      tokens: [consolePermissions(token, moduleName)],
      log: (e) => (e.level === 'info' ? log(bridgeLogLine(e)) : console.error(bridgeLogLine(e))),
    });
    cleanups.push(() => bridge.close());
    state.config = { bridgeUrl: bridge.url, token, moduleNames: ['console_*'] };
    state.placeholder = placeholderPage(files.reason ?? '', bridge.url, server.address, moduleName);

    const press = new PressModule(moduleName);
    const client = await IpcClient.connect(tcpConnector(server.address), press, {
      version: '1.0.0',
      retryFirstConnect: false,
    });
    press.startSimulation(client.broadcastSender());
    cleanups.push(async () => {
      press.stopSimulation();
      await client.close();
    });

    let closing: Promise<void> | undefined;
    const demo: Demo = {
      serverAddress: server.address,
      bridgeUrl: bridge.url,
      consoleUrl,
      token,
      ports: { server: server.port, bridge: bridge.port, http: httpPort },
      console:
        files.reason === undefined
          ? { kind: files.kind }
          : { kind: files.kind, reason: files.reason },
      close: () => (closing ??= closeAll()),
      [Symbol.asyncDispose]: () => demo.close(),
    };
    return demo;
  } catch (e) {
    await closeAll();
    throw e;
  }
}

/** Opens `url` in the desktop's browser; silently does nothing where there is none. */
function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No browser launcher: the URL is printed anyway.
  }
}

/**
 * The JSON after `READY ` on the line {@link runDemo} prints once everything runs, for scripts
 * and tests that start the demo with port 0.
 *
 * @example
 * ```ts
 * const ready = JSON.parse(line.slice('READY '.length)) as DemoReady;
 * ```
 */
export interface DemoReady {
  /** `host:port` of the IPC server. */
  server: string;
  bridgeUrl: string;
  consoleUrl: string;
  /** Whether the built console or the placeholder page is served. */
  console: 'built' | 'placeholder';
  ports: { server: number; bridge: number; http: number };
}

/**
 * Options of {@link runDemo}: those of {@link startDemo} plus whether to open the browser
 * (default: only on an interactive terminal outside CI).
 */
export interface RunDemoOptions extends DemoOptions {
  open?: boolean;
}

/**
 * `npm start` and `autocore-ipc demo`: starts the demo, prints where everything is (and the
 * `READY {...}` line), opens the console, runs until SIGINT/SIGTERM, then closes everything.
 * Resolves once stopped; a second signal while stopping exits 1 at once.
 *
 * @example
 * ```ts
 * await runDemo({ port: 9100, open: false });
 * ```
 */
export async function runDemo(options: RunDemoOptions = {}): Promise<void> {
  const log = options.log ?? ((line: string) => console.log(line));
  const demo = await startDemo(options);
  log('');
  log(`Console: ${demo.consoleUrl}`);
  if (demo.console.kind === 'placeholder')
    log(`         (placeholder page: ${demo.console.reason ?? ''})`);
  log(`Bridge:  ${demo.bridgeUrl} (token in ${demo.consoleUrl}config.json)`);
  log(`Server:  tcp://${demo.serverAddress}`);
  log(
    `Module:  ${options.moduleName ?? 'press1'} (try: npm run cli -- call ${options.moduleName ?? 'press1'}.status)`,
  );
  log('Press Ctrl-C to stop.');
  log('');
  const ready: DemoReady = {
    server: demo.serverAddress,
    bridgeUrl: demo.bridgeUrl,
    consoleUrl: demo.consoleUrl,
    console: demo.console.kind,
    ports: demo.ports,
  };
  process.stdout.write(`READY ${JSON.stringify(ready)}\n`);
  const open = options.open ?? (process.stdout.isTTY === true && !process.env.CI);
  if (open) openBrowser(demo.consoleUrl);

  await new Promise<void>((done) => {
    let stoppingAt: number | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stoppingAt !== undefined) {
        // A repeat within a moment is the same Ctrl-C, forwarded by a launcher (npm, npx).
        if (Date.now() - stoppingAt < 300) return;
        console.error(`demo: ${signal} again, exiting now`);
        process.exit(1);
      }
      stoppingAt = Date.now();
      log(`\n${signal}: stopping...`);
      void demo.close().then(() => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        done();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  log('stopped');
}

const USAGE = `Usage: npm start -- [options]

Starts the IPC server, the WebSocket bridge, the sample press module and the web console.

Options:
  --port <port>         IPC server port (default 9100; 0 = any free port)
  --bridge-port <port>  WebSocket bridge port (default 9101; 0 = any free port)
  --http-port <port>    console HTTP port (default 8080; 0 = any free port)
  --module <name>       name of the sample press module (default press1)
  --no-open             do not open the console in a browser
  --no-build            do not build web-demo/dist when it is missing (serve a placeholder)
  -h, --help            show this text`;

function portOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    console.error(`demo: --${name} must be a port number 0-65535 (got "${value}")\n\n${USAGE}`);
    process.exit(2);
  }
  return Number(value);
}

async function main(argv: string[]): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        'bridge-port': { type: 'string' },
        'http-port': { type: 'string' },
        module: { type: 'string' },
        'no-open': { type: 'boolean' },
        'no-build': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    console.error(`demo: ${(e as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }
  try {
    await runDemo({
      port: portOption('port', values.port, 9100),
      bridgePort: portOption('bridge-port', values['bridge-port'], 9101),
      httpPort: portOption('http-port', values['http-port'], 8080),
      ...(values.module !== undefined ? { moduleName: values.module } : {}),
      ...(values['no-open'] ? { open: false } : {}),
      build: values['no-build'] !== true,
    });
  } catch (e) {
    console.error(`demo: cannot start: ${(e as Error).message}`);
    process.exit(1);
  }
}

// Run when executed (`node ... demo/start.ts`), not when imported (the CLI's `demo` verb).
if (
  process.argv[1] !== undefined &&
  import.meta.url === pathToFileURL(resolve(process.argv[1])).href
) {
  await main(process.argv.slice(2));
}
