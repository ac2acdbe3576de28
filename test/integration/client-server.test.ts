/**
 * IpcClient through the real hub (IpcServer / IpcHub): module to module requests both ways,
 * pipelining, broadcasts and wildcard subscriptions, system topics, crashes and restarts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IpcClient, type IpcClientOptions } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import type { IpcError } from '../../src/core/errors.ts';
import type { CommandMessage } from '../../src/core/message.ts';
import { BaseModuleHandler, type ModuleHandler } from '../../src/core/module-handler.ts';
import type { IpcHubOptions } from '../../src/server/ipc-hub.ts';
import { IpcServer } from '../../src/server/ipc-server.node.ts';
import { FAST_RECONNECT, RecordingHandler, delay } from '../support/client-bed.ts';
import { KillableServer } from '../support/killable-server.ts';

class Bed {
  private readonly servers: KillableServer[] = [];
  private readonly clients: IpcClient[] = [];

  async server(options: IpcHubOptions = {}): Promise<KillableServer> {
    const s = await KillableServer.start(options);
    this.servers.push(s);
    return s;
  }

  async module(
    server: { address: string },
    handler: ModuleHandler,
    options: IpcClientOptions = {},
  ): Promise<IpcClient> {
    const client = await IpcClient.connect(tcpConnector(server.address), handler, {
      reconnect: FAST_RECONNECT,
      ...options,
    });
    this.clients.push(client);
    return client;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.close({ timeoutMs: 200 })));
    await Promise.all(this.servers.splice(0).map((s) => s.close(100)));
  }
}

const bed = new Bed();
afterEach(() => bed.dispose());

function press(name: string): BaseModuleHandler {
  return new BaseModuleHandler(name)
    .route(`${name}.echo`, ({ message }) => ({ from: name, data: message.data }))
    .route(`${name}.slow`, async ({ message }) => {
      await delay(message.data as number);
      return 'slow done';
    })
    .route(`${name}.fail`, () => {
      throw new Error(`${name} refuses`);
    });
}

describe('IpcClient through IpcServer', () => {
  it('lets two modules request each other both ways', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    const b = await bed.module(server, press('mod_b'));
    const ab = await a.request('mod_b.echo', 1);
    const ba = await b.request('mod_a.echo', 2);
    expect(ab.data).toEqual({ from: 'mod_b', data: 1 });
    expect(ba.data).toEqual({ from: 'mod_a', data: 2 });
    expect((await a.read('mod_b.echo')).data).toEqual({ from: 'mod_b', data: null });
    expect((await b.write('mod_a.echo', 3)).data).toEqual({ from: 'mod_a', data: 3 });
  });

  it('pipelines 64 concurrent requests on one connection', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    await bed.module(server, press('mod_b'));
    const replies = await Promise.all(
      Array.from({ length: 64 }, (_, i) => a.request('mod_b.echo', i)),
    );
    expect(replies.map((r) => (r.data as { data: number }).data)).toEqual(
      Array.from({ length: 64 }, (_, i) => i),
    );
    expect(a.inflight).toBe(0);
  });

  it('answers system.ping, system.get_domains and system.get_catalog', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'), { version: '2.0.0' });
    expect((await a.request('system.ping')).data).toBe('pong');
    const domains = (await a.request('system.get_domains')).data as {
      name: string;
      version: string;
      capabilities: string[];
    }[];
    expect(domains).toEqual([
      { name: 'mod_a', version: '2.0.0', capabilities: ['mod_a.echo', 'mod_a.slow', 'mod_a.fail'] },
    ]);
    expect((await a.request('system.get_catalog')).data).toEqual(
      expect.arrayContaining(['system.ping', 'mod_a.echo']),
    );
    await expect(a.request('system.nope')).rejects.toMatchObject({
      code: 'ERR_REMOTE',
      message: 'Not implemented: system.nope',
    });
  });

  it('turns a throwing handler into ERR_REMOTE for the caller, and an unknown domain into ERR_MODULE_NOT_FOUND', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    await bed.module(server, press('mod_b'));
    const err = (await a.request('mod_b.fail').catch((e: unknown) => e)) as IpcError;
    expect(err).toMatchObject({ code: 'ERR_REMOTE', message: 'mod_b refuses' });
    expect((err.response as CommandMessage).topic).toBe('mod_b.fail');
    await expect(a.request('ghost.x')).rejects.toMatchObject({
      code: 'ERR_MODULE_NOT_FOUND',
      message: 'Module not found: ghost',
    });
  });

  it('refuses a second module with the same name, with the server reason', async () => {
    const server = await bed.server();
    await bed.module(server, press('mod_a'));
    await expect(bed.module(server, press('mod_a'))).rejects.toMatchObject({
      code: 'ERR_REGISTRATION',
      message: expect.stringContaining('Name already registered: mod_a'),
    });
  });

  it('authenticates with a token', async () => {
    const server = await bed.server({ authenticate: (reg) => reg.token === 'good' });
    await expect(bed.module(server, press('mod_a'), { token: 'bad' })).rejects.toMatchObject({
      code: 'ERR_REGISTRATION',
      message: expect.stringContaining('Authentication failed'),
    });
    const ok = await bed.module(server, press('mod_a'), { token: 'good' });
    expect(ok.isConnected).toBe(true);
  });

  it('times out, drops the late Response, and aborts on a signal', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    await bed.module(server, press('mod_b'));
    await expect(a.request('mod_b.slow', 300, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
    });
    const ac = new AbortController();
    const p = a.request('mod_b.slow', 300, { signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await delay(350); // both late Responses arrive and are dropped
    expect(a.inflight).toBe(0);
    expect((await a.request('mod_b.echo', 'still fine')).success).toBe(true);
  });

  it('gets "Module disconnected" when the target leaves mid-request', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    const b = await bed.module(server, press('mod_b'));
    const p = a.request('mod_b.slow', 2000).catch((e: unknown) => e);
    await delay(50);
    await b.close();
    expect(await p).toMatchObject({ code: 'ERR_REMOTE', message: 'Module disconnected: mod_b' });
  });
});

describe('IpcClient subscriptions through IpcServer', () => {
  it('delivers broadcasts to wildcard subscriptions, by iterator and by handler, never to the sender', async () => {
    const server = await bed.server();
    const pub = await bed.module(server, press('plc1'));
    const hmi = await bed.module(server, press('hmi'));
    const axes = await hmi.subscribe('plc1.axis.*.pos');
    const all: string[] = [];
    const everything = await hmi.subscribe('plc1.>', (m) => void all.push(m.topic));
    const own: string[] = [];
    await pub.subscribe('plc1.>', (m) => void own.push(m.topic));

    pub.broadcast('plc1.axis.1.pos', 10);
    pub.broadcast('plc1.axis.2.speed', 20);
    pub.broadcastSender().send('plc1.axis.3.pos', 30);

    const it = axes[Symbol.asyncIterator]();
    expect(((await it.next()).value as CommandMessage).data).toBe(10);
    expect(((await it.next()).value as CommandMessage).topic).toBe('plc1.axis.3.pos');
    await vi.waitFor(() =>
      expect(all).toEqual(['plc1.axis.1.pos', 'plc1.axis.2.speed', 'plc1.axis.3.pos']),
    );
    expect(own).toEqual([]);
    await everything.unsubscribe();
    await axes.unsubscribe();
  });

  it('unsubscribes at the end of an await using block and stops delivery', async () => {
    const server = await bed.server();
    const pub = await bed.module(server, press('plc1'));
    const hmi = await bed.module(server, press('hmi'));
    const errors: IpcError[] = [];
    hmi.on('error', ({ error }) => errors.push(error));
    const keep: unknown[] = [];
    await hmi.subscribe('plc1.temp', (m) => void keep.push(m.data));
    {
      await using scoped = await hmi.subscribe('plc1.*');
      pub.broadcast('plc1.temp', 1);
      for await (const m of scoped) {
        expect(m.data).toBe(1);
        break;
      }
    }
    expect(hmi.subscriptionPatterns).toEqual(['plc1.temp']);
    pub.broadcast('plc1.temp', 2);
    await vi.waitFor(() => expect(keep).toEqual([1, 2]));
    expect(errors).toEqual([]);
  });

  it('counts what a lagging iterator drops (oldest first)', async () => {
    const server = await bed.server();
    const pub = await bed.module(server, press('plc1'));
    const hmi = await bed.module(server, press('hmi'));
    const sub = await hmi.subscribe('plc1.n', { bufferSize: 5 });
    for (let i = 0; i < 20; i++) pub.broadcast('plc1.n', i);
    await vi.waitFor(() => expect(sub.received).toBe(20));
    expect(sub.dropped).toBe(15);
    const got: unknown[] = [];
    for await (const m of sub) {
      got.push(m.data);
      if (got.length === 5) break;
    }
    expect(got).toEqual([15, 16, 17, 18, 19]);
  });
});

describe('IpcClient when the server dies', () => {
  it('settles every request with ERR_CONNECTION when the server is killed mid-request', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'));
    await bed.module(server, press('mod_b'));
    const pending = Array.from({ length: 20 }, () =>
      a.request('mod_b.slow', 5000).catch((e: unknown) => e),
    );
    await delay(50);
    await server.kill();
    const results = await Promise.all(pending);
    for (const r of results) expect(r).toMatchObject({ code: 'ERR_CONNECTION' });
    expect(a.inflight).toBe(0);
    // Fail fast while it is down.
    await vi.waitFor(() => expect(a.state).toBe('reconnecting'));
    await expect(a.request('mod_b.echo')).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
  });

  it('reconnects to a restarted server, re-registers, re-subscribes and resumes traffic', async () => {
    const server = await bed.server();
    const pubHandler = press('plc1');
    const pub = await bed.module(server, pubHandler);
    const hmiHandler = new RecordingHandler('hmi');
    const hmi = await bed.module(server, hmiHandler);
    const got: unknown[] = [];
    await hmi.subscribe('plc1.>', (m) => void got.push(m.data));
    const sub = await hmi.subscribe('plc1.temp');
    pub.broadcast('plc1.temp', 'before');
    await vi.waitFor(() => expect(got).toEqual(['before']));

    await server.kill();
    await vi.waitFor(() =>
      expect([pub.state, hmi.state]).toEqual(['reconnecting', 'reconnecting']),
    );
    await delay(100);
    await server.restart();
    await vi.waitFor(
      () =>
        expect(
          server.server
            .modules()
            .map((m) => [m.name, m.initialized])
            .sort(),
        ).toEqual([
          ['hmi', true],
          ['plc1', true],
        ]),
      { timeout: 5000 },
    );
    await vi.waitFor(() => expect([pub.state, hmi.state]).toEqual(['connected', 'connected']));
    expect(hmiHandler.initialized).toBe(2);

    pub.broadcast('plc1.temp', 'after');
    await vi.waitFor(() => expect(got).toEqual(['before', 'after']));
    const it = sub[Symbol.asyncIterator]();
    expect(((await it.next()).value as CommandMessage).data).toBe('before');
    expect(((await it.next()).value as CommandMessage).data).toBe('after');
    expect((await pub.request('hmi.status')).success).toBe(true);
  });

  it('delivers opt-in buffered requests after the restart and expires others by TTL', async () => {
    const server = await bed.server();
    const a = await bed.module(server, press('mod_a'), {
      offlineBuffer: { maxMessages: 10, ttlMs: 3000 },
    });
    const short = await bed.module(server, press('mod_s'), {
      offlineBuffer: { maxMessages: 10, ttlMs: 50 },
    });
    await server.kill();
    await vi.waitFor(() =>
      expect([a.state, short.state]).toEqual(['reconnecting', 'reconnecting']),
    );
    const buffered = a.request('system.ping');
    await expect(short.request('system.ping')).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await server.restart();
    expect((await buffered).data).toBe('pong');
  });

  it('reconnects after a graceful server shutdown (Finalize) and restart', async () => {
    const server = await bed.server({ finalizeTimeoutMs: 200 });
    const handler = new RecordingHandler('mod_a');
    const a = await bed.module(server, handler);
    await server.close(300);
    expect(handler.finalized).toBe(1);
    await vi.waitFor(() => expect(a.state).toBe('reconnecting'));
    await server.restart();
    await vi.waitFor(() => expect(a.state).toBe('connected'), { timeout: 5000 });
    expect(handler.initialized).toBe(2);
  });

  it("ends run() on a graceful server shutdown with onServerFinalize: 'close'", async () => {
    const server = await IpcServer.listen({ port: 0, finalizeTimeoutMs: 200 });
    try {
      const handler = new RecordingHandler('mod_a');
      const a = await IpcClient.connect(tcpConnector(server.address), handler, {
        onServerFinalize: 'close',
      });
      const run = a.run();
      await server.close({ timeoutMs: 500 });
      await run;
      expect(a.state).toBe('closed');
      expect(handler.finalized).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("adopts the server's heartbeat interval and stays connected while idle", async () => {
    const server = await bed.server({ heartbeatMs: 60 });
    const a = await bed.module(server, press('mod_a'));
    expect(a.registration?.heartbeat_ms).toBe(60);
    let drops = 0;
    a.on('disconnected', () => drops++);
    await delay(500);
    expect(drops).toBe(0);
    expect((await a.request('system.ping')).data).toBe('pong');
  });
});
