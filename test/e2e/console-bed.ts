/**
 * The whole system for the console's end-to-end test, on free ports only: the console built with
 * Vite into a temp dir, a static HTTP server for it (plus `/config.json`), an IpcServer, the
 * sample press module over TCP, and the WebSocket bridge in front of the server. `dispose()`
 * stops everything in reverse order.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpcClient, IpcServer, tcpConnector, type ModuleHandler } from 'autocore-ipc/node';
import { build } from 'vite';
import { createBridge, type Bridge, type BridgeOptions } from '../../bridge/index.ts';
import { PressModule } from '../../demo/press-module.ts';

/** Token of the console's bridge identity (16+ HTTP token characters). */
export const CONSOLE_TOKEN = 'console-e2e-token-0123456789';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Builds the console with Vite's JS API into a fresh temp dir; returns the dir. */
export async function buildConsole(): Promise<string> {
  const outDir = await mkdtemp(join(tmpdir(), 'autocore-console-'));
  await build({
    configFile: join(REPO, 'web-demo/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  return outDir;
}

/** A static file server for `dir` that also answers `GET /config.json` with `config()`. */
async function serveStatic(
  dir: string,
  config: () => unknown,
): Promise<{ origin: string; close(): Promise<void> }> {
  const root = resolve(dir);
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/config.json') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(config()));
        return;
      }
      const file = resolve(root, `.${path === '/' ? '/index.html' : path}`);
      if (file !== root && !file.startsWith(root + sep)) {
        res.writeHead(403).end();
        return;
      }
      try {
        const body = await readFile(file);
        res.writeHead(200, {
          'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        });
        res.end(body);
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      }
    })();
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export interface ConsoleBed {
  /** Where the console is served (`http://127.0.0.1:<port>`). */
  readonly origin: string;
  readonly server: IpcServer;
  readonly press: PressModule;
  bridge: Bridge;
  /** Options the bridge was made with (to start it again on the same port). */
  readonly bridgeOptions: BridgeOptions;
  /** Connects a Node module over TCP; closed by dispose(). */
  module(handler: ModuleHandler): Promise<IpcClient>;
  dispose(): Promise<void>;
}

/** Starts the system around an already built console in `distDir`. */
export async function startConsoleBed(distDir: string): Promise<ConsoleBed> {
  const cleanups: Array<() => Promise<void>> = [];
  const dispose = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch {
        // Keep disposing the rest.
      }
    }
  };
  try {
    const server = await IpcServer.listen({ port: 0 });
    cleanups.push(() => server.close({ timeoutMs: 500 }));

    const press = new PressModule('press1');
    const pressClient = await IpcClient.connect(tcpConnector(server.address), press, {
      version: '1.0.0',
    });
    press.startSimulation(pressClient.broadcastSender());
    cleanups.push(async () => {
      press.stopSimulation();
      await pressClient.close({ timeoutMs: 500 });
    });

    let bridgeUrl = '';
    const web = await serveStatic(distDir, () => ({
      bridgeUrl,
      token: CONSOLE_TOKEN,
      moduleNames: ['console_*'],
    }));
    cleanups.push(() => web.close());

    const bridgeOptions: BridgeOptions = {
      host: '127.0.0.1',
      port: 0,
      upstream: server.address,
      origins: [web.origin],
      tokens: [
        {
          id: 'console',
          token: CONSOLE_TOKEN,
          names: ['console_*'],
          request: ['>'],
          subscribe: ['>'],
          broadcast: [],
        },
      ],
      log: () => {},
    };
    const bed: ConsoleBed = {
      origin: web.origin,
      server,
      press,
      bridge: await createBridge(bridgeOptions),
      bridgeOptions,
      module: async (handler) => {
        const client = await IpcClient.connect(tcpConnector(server.address), handler, {
          version: 'e2e',
        });
        cleanups.push(() => client.close({ timeoutMs: 500 }));
        return client;
      },
      dispose,
    };
    bridgeUrl = bed.bridge.url;
    cleanups.push(() => bed.bridge.close());
    return bed;
  } catch (e) {
    await dispose();
    throw e;
  }
}

/** Removes a directory made by buildConsole(). */
export async function removeBuild(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
