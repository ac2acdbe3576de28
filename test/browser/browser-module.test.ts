/**
 * A real Chromium page as an autocore-ipc module: it connects through the real bridge to a real
 * IpcServer with the browser's own WebSocket, and talks to `nodemod`, a Node module on TCP
 * (started by test/browser-setup/global-setup.ts).
 */
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { commands } from 'vitest/browser';
import {
  BaseModuleHandler,
  connectWebSocket,
  IpcClient,
  IpcError,
  webSocketConnector,
  type CommandMessage,
  type IpcClientEvents,
  type IpcClientOptions,
} from 'autocore-ipc';

const bridgeUrl = inject('bridgeUrl');
const bridgeToken = inject('bridgeToken');

/** Deadline of every wait below; the Node side answers in milliseconds. */
const WAIT_MS = 3000;

/** Fast reconnects, so a bridge restart is noticed and healed well within a test's timeout. */
const FAST_RECONNECT = { firstDelayMaxMs: 0, initialDelayMs: 50, maxDelayMs: 200 };

const clients: IpcClient[] = [];

beforeAll(async () => {
  await commands.bridgeReady();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close({ timeoutMs: 1000 })));
  // A test that failed half-way must not leave the bridge down for the next one.
  await commands.startBridge();
});

afterAll(async () => {
  // Every client closed above: the bridge lets go of every WebSocket.
  await waitUntil(async () => (await commands.bridgeConnections()) === 0, 'bridge connections = 0');
});

/** The page's module: `<name>.hello` echoes with a greeting, `<name>.fail` throws. */
function hmiHandler(name: string): BaseModuleHandler {
  return new BaseModuleHandler(name)
    .route(`${name}.hello`, ({ message }) => ({ hello: message.data, from: name }))
    .route(`${name}.fail`, () => {
      throw new Error('the browser handler failed on purpose');
    });
}

interface ConnectOptions {
  name?: string;
  mode?: 'text' | 'binary';
  token?: string;
  options?: IpcClientOptions;
}

/** Connects the page as module `name` (default `hmi_test`) through the bridge; closed after the test. */
async function connectHmi({
  name = 'hmi_test',
  mode = 'text',
  token = bridgeToken,
  options = {},
}: ConnectOptions = {}): Promise<IpcClient> {
  const client = await IpcClient.connect(
    webSocketConnector(bridgeUrl, { token, mode, timeoutMs: WAIT_MS }),
    hmiHandler(name),
    { requestTimeoutMs: WAIT_MS, connectTimeoutMs: WAIT_MS, ...options },
  );
  clients.push(client);
  return client;
}

function timeout(what: string, ms = WAIT_MS): { promise: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** `p`, or a rejection naming `what` after `ms`. */
async function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  const t = timeout(what, ms);
  try {
    return await Promise.race([p, t.promise]);
  } finally {
    t.cancel();
  }
}

/** Resolves with the next `type` event of `client`, or rejects after {@link WAIT_MS}. */
function nextEvent<K extends keyof IpcClientEvents>(
  client: IpcClient,
  type: K,
): Promise<IpcClientEvents[K]> {
  let off = (): void => {};
  const seen = new Promise<IpcClientEvents[K]>((resolve) => {
    off = client.on(type, (event) => {
      off();
      resolve(event);
    });
  });
  return within(seen, `the '${String(type)}' event`).finally(off);
}

/** Polls `check` every 20 ms until it holds, or rejects after {@link WAIT_MS}. */
async function waitUntil(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!(await check())) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The first `n` messages of an iterable subscription (leaving the loop unsubscribes). */
async function take(sub: AsyncIterable<CommandMessage>, n: number): Promise<CommandMessage[]> {
  const out: CommandMessage[] = [];
  for await (const msg of sub) {
    out.push(msg);
    if (out.length >= n) break;
  }
  return out;
}

function tickNumbers(msgs: readonly CommandMessage[]): number[] {
  return msgs.map((m) => (m.data as { n: number }).n);
}

/** The error `p` rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<IpcError> {
  const outcome = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof IpcError))
    throw new Error(`expected an IpcError, got ${String(outcome)}`);
  return outcome;
}

/** Asks nodemod to request `topic` of the page: Node -> hub -> bridge -> page -> back. */
function viaNodemod(client: IpcClient, topic: string, data: unknown): Promise<CommandMessage> {
  return client.request('nodemod.call_hmi', { topic, data });
}

describe('IpcClient in Chromium through the bridge', () => {
  it('registers as hmi_test and is listed by system.get_domains', async () => {
    const client = await connectHmi();
    expect(client.state).toBe('connected');
    expect(client.registration?.server).not.toBe('');

    const domains = (await client.request('system.get_domains')).data as {
      name: string;
      capabilities: string[];
    }[];
    const names = domains.map((d) => d.name);
    expect(names).toContain('hmi_test');
    expect(names).toContain('nodemod');
    expect(domains.find((d) => d.name === 'hmi_test')?.capabilities).toEqual([
      'hmi_test.hello',
      'hmi_test.fail',
    ]);
  });

  it('serves a request from the Node module (Node -> hub -> bridge -> browser -> back)', async () => {
    const client = await connectHmi();
    const reply = await viaNodemod(client, 'hmi_test.hello', { x: 1, text: 'grüße ✓' });
    expect(reply.success).toBe(true);
    expect(reply.data).toEqual({ hello: { x: 1, text: 'grüße ✓' }, from: 'hmi_test' });
  });

  it('returns a throwing browser handler to the Node caller as a failed Response', async () => {
    const client = await connectHmi();
    const err = await rejection(viaNodemod(client, 'hmi_test.fail', null));
    expect(err.code).toBe('ERR_REMOTE');
    expect(err.message).toContain('the browser handler failed on purpose');
  });

  it('calls a Node module (nodemod.add, nodemod.echo)', async () => {
    const client = await connectHmi();
    expect((await client.request('nodemod.add', { a: 2, b: 3 })).data).toBe(5);
    expect((await client.request('nodemod.echo', [1, 'two', { three: 3 }])).data).toEqual([
      1,
      'two',
      { three: 3 },
    ]);
    const err = await rejection(client.request('nodemod.add', { a: 'x' }));
    expect(err.code).toBe('ERR_REMOTE');
    expect(err.message).toContain('nodemod.add needs numbers a and b');
  });

  it('pipelines many concurrent requests over one WebSocket', async () => {
    const client = await connectHmi();
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.request('nodemod.add', { a: i, b: 1000 })),
    );
    expect(replies.map((r) => r.data)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1000));
  });

  it('receives broadcasts through an async iterator (subscribe nodemod.>)', async () => {
    const client = await connectHmi();
    const sub = await client.subscribe('nodemod.>');
    const msgs = await within(take(sub, 3), 'three nodemod.tick broadcasts');
    expect(msgs.map((m) => m.topic)).toEqual(['nodemod.tick', 'nodemod.tick', 'nodemod.tick']);
    const [a, b, c] = tickNumbers(msgs);
    expect(b).toBe((a ?? 0) + 1);
    expect(c).toBe((a ?? 0) + 2);
    // Leaving the loop unsubscribed at the server.
    await waitUntil(() => client.subscriptionPatterns.length === 0, 'the unsubscribe');
  });

  it('receives broadcasts through a handler', async () => {
    const client = await connectHmi();
    const seen: CommandMessage[] = [];
    const sub = await client.subscribe('nodemod.>', (msg) => {
      seen.push(msg);
    });
    await waitUntil(() => seen.length >= 3, 'three broadcasts in the handler');
    await sub.unsubscribe();
    const ns = tickNumbers(seen);
    expect(ns.slice(1)).toEqual(ns.slice(0, -1).map((n) => n + 1));
    expect(client.subscriptionPatterns).toEqual([]);
  });

  it("relays one page's broadcasts to another page module; drops those outside the token's topics", async () => {
    const listener = await connectHmi({ name: 'hmi_peer' });
    const seen: CommandMessage[] = [];
    await listener.subscribe('hmi_test.>', (msg) => {
      seen.push(msg);
    });
    await listener.subscribe('nodemod.fake', (msg) => {
      seen.push(msg);
    });
    const talker = await connectHmi();
    // Not in the token's broadcast list: the bridge drops it silently.
    talker.broadcast('nodemod.fake', 'spoofed');
    talker.broadcast('hmi_test.status', { ok: true });
    await waitUntil(() => seen.length >= 1, 'the hmi_test.status broadcast');
    // A round trip through the same bridge connection, so the spoof had its chance to arrive.
    await talker.request('nodemod.echo', null);
    await listener.request('nodemod.echo', null);
    expect(seen.map((m) => [m.topic, m.data])).toEqual([['hmi_test.status', { ok: true }]]);
  });

  it('works in binary mode (one TCP frame per WebSocket message)', async () => {
    const client = await connectHmi({ name: 'hmi_bin', mode: 'binary' });
    expect((await client.request('nodemod.add', { a: 40, b: 2 })).data).toBe(42);
    const reply = await viaNodemod(client, 'hmi_bin.hello', 'binary ✓');
    expect(reply.data).toEqual({ hello: 'binary ✓', from: 'hmi_bin' });
    const sub = await client.subscribe('nodemod.tick');
    const msgs = await within(take(sub, 2), 'two broadcasts in binary mode');
    expect(msgs.map((m) => m.topic)).toEqual(['nodemod.tick', 'nodemod.tick']);
  });

  it('is refused a module name its token does not allow (ERR_REGISTRATION "Not allowed: evil")', async () => {
    const err = await rejection(connectHmi({ name: 'evil' }));
    expect(err.code).toBe('ERR_REGISTRATION');
    expect(err.message).toContain('Not allowed: evil');
    expect((err.response as CommandMessage | undefined)?.errorMessage).toBe('Not allowed: evil');
  });

  it('fails to connect with a wrong token (ERR_CONNECTION, no retry)', async () => {
    const started = performance.now();
    const err = await rejection(
      connectHmi({ token: 'not-the-token-0123456789', options: { retryFirstConnect: false } }),
    );
    expect(err.code).toBe('ERR_CONNECTION');
    expect(performance.now() - started).toBeLessThan(WAIT_MS);
  });

  it('refuses at once a token a subprotocol cannot carry (ERR_INVALID_ARGUMENT, never retried)', async () => {
    // Chromium's WebSocket constructor throws a SyntaxError for such a subprotocol on every try.
    expect(() => webSocketConnector(bridgeUrl, { token: 'has a space' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
    const err = await rejection(connectWebSocket(bridgeUrl, { token: 'ümlaut-token-0123456789' }));
    expect(err.code).toBe('ERR_INVALID_ARGUMENT');
    expect(err.message).not.toContain('ümlaut');
  });

  it('survives a bridge restart: reconnects, re-registers, re-subscribes; fails fast while down', async () => {
    const client = await connectHmi({ options: { reconnect: FAST_RECONNECT } });
    const ticks: CommandMessage[] = [];
    await client.subscribe('nodemod.tick', (msg) => {
      ticks.push(msg);
    });
    await waitUntil(() => ticks.length >= 1, 'a broadcast before the restart');

    const down = nextEvent(client, 'disconnected');
    await commands.stopBridge();
    const { error } = await down;
    expect(error?.code).toBe('ERR_CONNECTION');
    expect(client.isConnected).toBe(false);

    // While down: requests and broadcasts fail at once (no offline buffer by default).
    const started = performance.now();
    const err = await rejection(client.request('nodemod.add', { a: 1, b: 1 }));
    expect(err.code).toBe('ERR_CONNECTION');
    expect(performance.now() - started).toBeLessThan(500);
    expect(() => client.broadcast('hmi_test.status', 1)).toThrow(
      expect.objectContaining({ code: 'ERR_CONNECTION' }),
    );
    // A retry has failed against the closed port (the client keeps trying on its own).
    await nextEvent(client, 'reconnecting');

    const up = nextEvent(client, 'connected');
    await commands.startBridge();
    await up;
    expect(client.state).toBe('connected');

    expect((await client.request('nodemod.add', { a: 2, b: 3 })).data).toBe(5);
    // Re-registered: the Node module reaches the page again.
    const reply = await viaNodemod(client, 'hmi_test.hello', 'after restart');
    expect(reply.data).toEqual({ hello: 'after restart', from: 'hmi_test' });
    const domains = (await client.request('system.get_domains')).data as { name: string }[];
    expect(domains.map((d) => d.name)).toContain('hmi_test');
    // Re-subscribed: broadcasts flow again.
    const before = ticks.length;
    await waitUntil(() => ticks.length >= before + 2, 'broadcasts after the restart');
    expect(client.subscriptionPatterns).toEqual(['nodemod.tick']);
  }, 15_000);
});
