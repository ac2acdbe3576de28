/**
 * The Node side of the browser tests, all real and on port 0: an IpcServer, the bridge in front
 * of it, and a module `nodemod` connected over TCP that the page can call and be called by.
 */
import {
  BaseModuleHandler,
  IpcClient,
  IpcError,
  IpcServer,
  tcpConnector,
  type BroadcastSender,
} from 'autocore-ipc/node';
import { createBridge, type Bridge, type BridgeOptions } from '../../bridge/index.ts';
import type { BrowserTestStack } from './registry.ts';

/** The bridge token the page connects with (names `hmi_*`, see {@link bridgeOptions}). */
export const BRIDGE_TOKEN = 'browser-tests-0123456789abcdef';

/** Interval of nodemod's `nodemod.tick` broadcasts. */
export const TICK_MS = 50;

/** The running stack, plus what only the globalSetup may do with it. */
export interface NodeStack extends BrowserTestStack {
  /** Stops everything; afterwards nothing of the stack keeps the process alive. */
  close(): Promise<void>;
}

function bridgeOptions(port: number, upstream: string, origins: readonly string[]): BridgeOptions {
  return {
    host: '127.0.0.1',
    port,
    upstream,
    origins: [...origins],
    tokens: [
      {
        id: 'browser-tests',
        token: BRIDGE_TOKEN,
        names: ['hmi_*'],
        request: ['>'],
        subscribe: ['>'],
        // A topic pattern cannot glob inside a segment (`hmi_*.>` is not a pattern), so every
        // module name the tests register gets its own entry.
        broadcast: ['hmi_test.>', 'hmi_bin.>', 'hmi_peer.>'],
      },
    ],
    // Quiet: refusals are expected here, and the tests assert on what the page sees.
    log: () => {},
  };
}

/**
 * nodemod: `echo` (returns its data), `add {a, b}` (returns a + b), `call_hmi {topic, data}`
 * (requests `topic` and returns the Response's data: how a test makes Node call the page), and a
 * `nodemod.tick` broadcast `{ n }` every {@link TICK_MS}.
 */
async function startNodemod(address: string): Promise<{ close(): Promise<void> }> {
  // call_hmi requests through nodemod's own client, which exists only once connected.
  const self: { client?: IpcClient } = {};
  const handler = new BaseModuleHandler('nodemod')
    .route('nodemod.echo', ({ message }) => message.data)
    .route('nodemod.add', ({ message }) => {
      const { a, b } = (message.data ?? {}) as { a?: unknown; b?: unknown };
      if (typeof a !== 'number' || typeof b !== 'number') {
        throw new Error('nodemod.add needs numbers a and b');
      }
      return a + b;
    })
    .route('nodemod.call_hmi', async ({ message }) => {
      const { topic, data } = (message.data ?? {}) as { topic?: unknown; data?: unknown };
      if (typeof topic !== 'string') throw new Error('nodemod.call_hmi needs a topic');
      if (self.client === undefined) throw new Error('nodemod is not connected yet');
      const reply = await self.client.request(topic, data ?? null, { timeoutMs: 3000 });
      return reply.data;
    });
  const client = await IpcClient.connect(tcpConnector(address), handler, {
    version: '1.0.0',
    connectTimeoutMs: 5000,
  });
  self.client = client;
  const sender: BroadcastSender = client.broadcastSender();
  let n = 0;
  const ticker = setInterval(() => sender.trySend('nodemod.tick', { n: ++n }), TICK_MS);
  return {
    async close() {
      clearInterval(ticker);
      await client.close({ timeoutMs: 1000 });
    },
  };
}

/**
 * Listens on the port a closed bridge left (Linux lets a listener rebind at once; the retries
 * only cover a port still being released).
 */
async function listenBridge(options: BridgeOptions): Promise<Bridge> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await createBridge(options);
    } catch (e) {
      if (!(e instanceof IpcError) || e.code !== 'ERR_IO' || attempt >= 20) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts the IpcServer, nodemod and the bridge. `origins`: the browser origins admitted at first
 * (more can be added with `admitOrigin`).
 */
export async function startNodeStack(origins: readonly string[] = []): Promise<NodeStack> {
  const server = await IpcServer.listen({ host: '127.0.0.1', port: 0 });
  const cleanups: (() => Promise<void>)[] = [() => server.close({ timeoutMs: 1000 })];
  const unwind = async (): Promise<void> => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    const nodemod = await startNodemod(server.address);
    cleanups.push(() => nodemod.close());

    let admitted = [...origins];
    let bridge: Bridge | undefined = await listenBridge(bridgeOptions(0, server.address, admitted));
    const port = bridge.port;
    const bridgeUrl = bridge.url;
    cleanups.push(async () => {
      await bridge?.close();
      bridge = undefined;
    });

    // Commands may overlap (two test files, a retry); run stop/start strictly one after another.
    let queue: Promise<unknown> = Promise.resolve();
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const run = queue.then(fn, fn);
      queue = run.catch(() => undefined);
      return run;
    };
    const stop = async (): Promise<void> => {
      const b = bridge;
      bridge = undefined;
      await b?.close();
    };
    const start = async (): Promise<void> => {
      bridge ??= await listenBridge(bridgeOptions(port, server.address, admitted));
    };

    return {
      bridgeUrl,
      admitOrigin: (origin) =>
        serial(async () => {
          if (!admitted.includes(origin)) {
            admitted = [...admitted, origin];
            await stop();
          }
          await start();
        }),
      stopBridge: () => serial(stop),
      startBridge: () => serial(start),
      bridgeConnections: () => bridge?.metrics().connectionsCurrent ?? 0,
      close: () => serial(unwind),
    };
  } catch (e) {
    await unwind();
    throw e;
  }
}
