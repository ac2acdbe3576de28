/**
 * Fixtures of the client integration tests: every hub and client made through a ClientBed is
 * closed by `dispose()` (call it from afterEach), so a failing test leaves nothing behind.
 */
import { IpcClient, type IpcClientOptions } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import type { CommandMessage } from '../../src/core/message.ts';
import type { ModuleHandler } from '../../src/core/module-handler.ts';
import { FakeHub, type FakeHubOptions } from './fake-hub.ts';

/** A reconnect schedule fast enough for tests. */
export const FAST_RECONNECT = { firstDelayMaxMs: 0, initialDelayMs: 20, maxDelayMs: 100 } as const;

/** A handler that records what it got and echoes requests. */
export class RecordingHandler implements ModuleHandler {
  readonly seen: CommandMessage[] = [];
  initialized = 0;
  finalized = 0;
  configured: unknown[] = [];
  constructor(readonly domain: string) {}
  handleMessage(msg: CommandMessage): CommandMessage {
    this.seen.push(msg);
    if (msg.subtopic === 'fail') throw new Error(`cannot ${msg.topic}`);
    return msg.intoResponse({ from: this.domain, topic: msg.topic, data: msg.data });
  }
  onInitialize(): void {
    this.initialized++;
  }
  onFinalize(): void {
    this.finalized++;
  }
  onConfigure(config: unknown): void {
    this.configured.push(config);
  }
  status(): unknown {
    return { ok: true, initialized: this.initialized };
  }
}

export class ClientBed {
  private readonly hubs: FakeHub[] = [];
  private readonly clients: IpcClient[] = [];

  async hub(options: FakeHubOptions = {}): Promise<FakeHub> {
    const hub = await FakeHub.start(options);
    this.hubs.push(hub);
    return hub;
  }

  /** Connects a client to `address` with fast reconnects; the client is closed by dispose(). */
  async client(
    address: string,
    handler: ModuleHandler,
    options: IpcClientOptions = {},
  ): Promise<IpcClient> {
    const client = await IpcClient.connect(tcpConnector(address, { timeoutMs: 2000 }), handler, {
      reconnect: FAST_RECONNECT,
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  /** Like `client`, but returns the pending connect promise (the client is tracked once it resolves). */
  connecting(
    address: string,
    handler: ModuleHandler,
    options: IpcClientOptions = {},
  ): Promise<IpcClient> {
    const p = IpcClient.connect(tcpConnector(address, { timeoutMs: 2000 }), handler, {
      reconnect: FAST_RECONNECT,
      ...options,
    });
    p.then(
      (c) => this.clients.push(c),
      () => {},
    );
    return p;
  }

  track(client: IpcClient): IpcClient {
    this.clients.push(client);
    return client;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close({ timeoutMs: 200 })));
    await Promise.all(this.hubs.splice(0).map((h) => h.close()));
  }
}

/** A free port on 127.0.0.1 that nothing listens on (briefly bound, then released). */
export async function freePort(): Promise<number> {
  const hub = await FakeHub.start();
  const port = hub.port;
  await hub.close();
  return port;
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
