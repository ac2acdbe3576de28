/**
 * IpcClient against the scripted fake hub: registration, requests, serving, lifecycle, close.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IpcClient } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import { IpcError } from '../../src/core/errors.ts';
import { CommandMessage, ControlType, MessageType } from '../../src/core/message.ts';
import { BaseModuleHandler } from '../../src/core/module-handler.ts';
import { ClientBed, RecordingHandler, delay, freePort } from '../support/client-bed.ts';

const bed = new ClientBed();
afterEach(() => bed.dispose());

describe('IpcClient registration', () => {
  it('registers, answers Initialize through onInitialize, then resolves connect()', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('press1');
    const client = await bed.client(hub.address, handler, {
      version: '1.2.3',
      capabilities: ['press1.start'],
      token: 's3cret',
    });
    const peer = await hub.peer('press1');
    expect(peer.registration).toEqual({
      name: 'press1',
      version: '1.2.3',
      capabilities: ['press1.start'],
      token: 's3cret',
    });
    const answer = await peer.initialized;
    expect(answer.success).toBe(true);
    expect(handler.initialized).toBe(1);
    expect(client.state).toBe('connected');
    expect(client.isConnected).toBe(true);
    expect(client.name).toBe('press1');
    expect(client.registration).toMatchObject({ server: 'fake-hub', heartbeat_ms: 10_000 });
  });

  it('takes name and capabilities from a BaseModuleHandler by default', async () => {
    const hub = await bed.hub();
    const handler = new BaseModuleHandler('press2').route('press2.start', () => 'ok');
    await bed.client(hub.address, handler);
    const peer = await hub.peer('press2');
    expect(peer.registration).toEqual({
      name: 'press2',
      version: '',
      capabilities: ['press2.start'],
    });
  });

  it('emits registered, then connected, with the attempt number', async () => {
    const hub = await bed.hub();
    const events: string[] = [];
    const client = await bed.client(hub.address, new RecordingHandler('ev'), {
      listeners: {
        registered: (ack) => events.push(`registered ${ack.server}`),
        connected: ({ attempt }) => events.push(`connected ${attempt}`),
      },
    });
    expect(events).toEqual(['registered fake-hub', 'connected 1']);
    client.on('disconnected', ({ error }) => events.push(`disconnected ${error?.code ?? 'clean'}`));
    client.on('reconnecting', ({ attempt }) => events.push(`reconnecting ${attempt}`));
    hub.dropAll();
    await vi.waitFor(
      () =>
        expect(events.slice(2)).toEqual([
          'disconnected clean',
          'reconnecting 1',
          'registered fake-hub',
          'connected 1',
        ]),
      { timeout: 3000 },
    );
  });

  it('rejects with ERR_REGISTRATION and the reason when the server refuses, without retrying', async () => {
    const hub = await bed.hub({ refuse: 'Name already registered: dup' });
    const err = await bed
      .connecting(hub.address, new RecordingHandler('dup'))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpcError);
    expect((err as IpcError).code).toBe('ERR_REGISTRATION');
    expect((err as IpcError).message).toContain('Name already registered: dup');
    expect(((err as IpcError).response as CommandMessage).errorMessage).toBe(
      'Name already registered: dup',
    );
    await delay(150);
    expect(hub.connections).toBe(1);
  });

  it('rejects an invalid module name locally with ERR_INVALID_ARGUMENT', async () => {
    const connector = tcpConnector('127.0.0.1:1');
    await expect(IpcClient.connect(connector, new RecordingHandler('a.b'))).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    await expect(
      IpcClient.connect(connector, new RecordingHandler('ok'), { name: 'system' }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(
      IpcClient.connect(connector, new RecordingHandler('ok'), { requestTimeoutMs: -1 }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('does not retry when the connector rejects its own arguments', async () => {
    const { IpcError } = await import('../../src/core/errors.ts');
    let calls = 0;
    const connector = async (): Promise<never> => {
      calls++;
      throw new IpcError('ERR_INVALID_ARGUMENT', 'bad token');
    };
    await expect(
      IpcClient.connect(connector, new RecordingHandler('m'), {
        reconnect: { firstDelayMaxMs: 0, initialDelayMs: 10, maxDelayMs: 10 },
      }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(calls).toBe(1);
  });

  it('retries the first connection until the server comes up', async () => {
    const port = await freePort();
    const reconnecting: number[] = [];
    const errors: string[] = [];
    const connected: number[] = [];
    const connector = tcpConnector(`127.0.0.1:${port}`);
    const client = IpcClient.connect(connector, new RecordingHandler('late'), {
      reconnect: { firstDelayMaxMs: 0, initialDelayMs: 20, maxDelayMs: 50 },
      listeners: {
        reconnecting: ({ attempt }) => reconnecting.push(attempt),
        error: ({ error }) => errors.push(error.code),
        connected: ({ attempt }) => connected.push(attempt),
      },
    });
    await delay(200);
    const hub = await bed.hub({ port });
    const c = bed.track(await client);
    expect(c.state).toBe('connected');
    expect(hub.connections).toBe(1);
    expect(reconnecting.length).toBeGreaterThanOrEqual(2);
    expect(reconnecting.slice(0, 3)).toEqual([2, 3, 4].slice(0, Math.min(3, reconnecting.length)));
    expect(errors.every((code) => code === 'ERR_CONNECTION')).toBe(true);
    expect(connected).toEqual([reconnecting.length + 1]);
  });

  it('fails the first connection at once with retryFirstConnect: false', async () => {
    const port = await freePort();
    const started = Date.now();
    const err = await bed
      .connecting(`127.0.0.1:${port}`, new RecordingHandler('m'), { retryFirstConnect: false })
      .catch((e: unknown) => e);
    expect((err as IpcError).code).toBe('ERR_CONNECTION');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('settles connect() on connectTimeoutMs and on abort', async () => {
    const port = await freePort();
    const t = await bed
      .connecting(`127.0.0.1:${port}`, new RecordingHandler('m'), { connectTimeoutMs: 150 })
      .catch((e: unknown) => e);
    expect((t as IpcError).code).toBe('ERR_TIMEOUT');

    const ac = new AbortController();
    const p = bed.connecting(`127.0.0.1:${port}`, new RecordingHandler('m'), { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });

    const pre = AbortSignal.abort();
    await expect(
      bed.connecting(`127.0.0.1:${port}`, new RecordingHandler('m'), { signal: pre }),
    ).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('fails an attempt whose Initialize never comes (handshakeTimeoutMs)', async () => {
    const hub = await bed.hub({ sendInitialize: false });
    const err = await bed
      .connecting(hub.address, new RecordingHandler('m'), {
        handshakeTimeoutMs: 150,
        retryFirstConnect: false,
      })
      .catch((e: unknown) => e);
    expect((err as IpcError).code).toBe('ERR_TIMEOUT');
    expect((err as IpcError).message).toContain('150 ms');
  });

  it('builds a client fluently', async () => {
    const hub = await bed.hub();
    const client = bed.track(
      await IpcClient.builder(tcpConnector(hub.address), new RecordingHandler('ignored'))
        .name('built')
        .version('9')
        .token('t')
        .requestTimeout(1234)
        .reconnect({ initialDelayMs: 10, maxDelayMs: 20 })
        .connect({ timeoutMs: 3000 }),
    );
    expect(client.name).toBe('built');
    expect((await hub.peer('built')).registration).toMatchObject({ version: '9', token: 't' });
  });
});

describe('IpcClient requests', () => {
  it('resolves with the Response; read and write send their types', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const r = await client.request('other.x', { a: 1 });
    expect(r.messageType).toBe(MessageType.Response);
    expect(r.data).toEqual({ echo: { a: 1 } });
    await client.read('other.value');
    await client.write('other.value', 5);
    const peer = await hub.peer('m');
    expect(
      peer.received.filter((m) => m.topic === 'other.value').map((m) => m.messageType),
    ).toEqual([MessageType.Read, MessageType.Write]);
  });

  it('rejects a failed Response with ERR_REMOTE, or returns it with throwOnFailure: false', async () => {
    const hub = await bed.hub({
      onRequest: (m) =>
        m.topic === 'nobody.x'
          ? m.intoErrorResponse('Module not found: nobody')
          : m.intoErrorResponse('rpm out of range'),
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const err = await client.request('press.set', 9000).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_REMOTE', message: 'rpm out of range' });
    expect(((err as IpcError).response as CommandMessage).success).toBe(false);
    const raw = await client.request('press.set', 9000, { throwOnFailure: false });
    expect(raw.success).toBe(false);
    expect(raw.errorMessage).toBe('rpm out of range');
    await expect(client.request('nobody.x')).rejects.toMatchObject({
      code: 'ERR_MODULE_NOT_FOUND',
    });
  });

  it('pipelines 64 concurrent requests answered out of order', async () => {
    const hub = await bed.hub({
      onRequest: async (m) => {
        await delay(64 - (m.data as number));
        return m.intoResponse(m.data);
      },
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const replies = await Promise.all(
      Array.from({ length: 64 }, (_, i) => client.request('o.x', i)),
    );
    expect(replies.map((r) => r.data)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(client.inflight).toBe(0);
  });

  it('times out, drops the late Response, and goes on', async () => {
    const hub = await bed.hub({
      onRequest: async (m) => {
        if (m.topic === 'o.slow') await delay(200);
        return m.intoResponse('late');
      },
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const started = Date.now();
    await expect(client.request('o.slow', null, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
    });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(client.inflight).toBe(0);
    await delay(250); // the late answer arrives and is dropped
    expect((await client.request('o.fast')).data).toBe('late');
  });

  it('uses requestTimeoutMs as the default deadline', async () => {
    const hub = await bed.hub({ onRequest: () => undefined });
    const client = await bed.client(hub.address, new RecordingHandler('m'), {
      requestTimeoutMs: 80,
    });
    await expect(client.request('o.never')).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });

  it('aborts with ERR_ABORTED, also when already aborted (nothing sent)', async () => {
    const hub = await bed.hub({ onRequest: () => undefined });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const ac = new AbortController();
    const p = client.request('o.never', null, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(client.inflight).toBe(0);
    await expect(
      client.request('o.pre', null, { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({
      code: 'ERR_ABORTED',
    });
    const peer = await hub.peer('m');
    await delay(50);
    expect(peer.received.some((m) => m.topic === 'o.pre')).toBe(false);
  });

  it('fails over maxInflight with ERR_TOO_MANY_INFLIGHT', async () => {
    const hub = await bed.hub({ onRequest: () => undefined });
    const client = await bed.client(hub.address, new RecordingHandler('m'), { maxInflight: 2 });
    const a = client.request('o.a').catch((e: unknown) => e);
    const b = client.request('o.b').catch((e: unknown) => e);
    await expect(client.request('o.c')).rejects.toMatchObject({ code: 'ERR_TOO_MANY_INFLIGHT' });
    expect(client.inflight).toBe(2);
    await client.close();
    expect(await a).toMatchObject({ code: 'ERR_SHUTDOWN' });
    expect(await b).toMatchObject({ code: 'ERR_SHUTDOWN' });
  });

  it('refuses what cannot be sent, sending nothing', async () => {
    const hub = await bed.hub({ ack: { max_payload: 1000 } });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    await expect(client.request('o.big', 'x'.repeat(2000))).rejects.toMatchObject({
      code: 'ERR_PAYLOAD_TOO_LARGE',
    });
    await expect(client.request('o.bigint', { n: 1n })).rejects.toMatchObject({
      code: 'ERR_SERIALIZATION',
    });
    expect(() => client.broadcast('o.big', 'x'.repeat(2000))).toThrow(
      expect.objectContaining({ code: 'ERR_PAYLOAD_TOO_LARGE' }),
    );
    await expect(client.request('')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(client.inflight).toBe(0);
    const peer = await hub.peer('m');
    expect(peer.received.some((m) => m.topic.startsWith('o.'))).toBe(false);
  });
});

describe('IpcClient serving', () => {
  it('passes requests to the handler, concurrently, and answers each', async () => {
    const hub = await bed.hub();
    let running = 0;
    let maxRunning = 0;
    const handler = new BaseModuleHandler('srv').route('srv.slow', async ({ message }) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await delay(50);
      running--;
      return message.data;
    });
    await bed.client(hub.address, handler);
    const peer = await hub.peer('srv');
    const replies = await Promise.all([1, 2, 3].map((n) => peer.request('srv.slow', n)));
    expect(replies.map((r) => [r.success, r.data])).toEqual([
      [true, 1],
      [true, 2],
      [true, 3],
    ]);
    expect(maxRunning).toBe(3);
  });

  it('answers a throwing handler with a failed Response', async () => {
    const hub = await bed.hub();
    await bed.client(hub.address, new RecordingHandler('srv'));
    const peer = await hub.peer('srv');
    const r = await peer.request('srv.fail');
    expect(r.success).toBe(false);
    expect(r.errorMessage).toBe('cannot srv.fail');
  });

  it('answers Configure and Status through the hooks, and Subscribe with a refusal', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('srv');
    await bed.client(hub.address, handler);
    const peer = await hub.peer('srv');
    expect((await peer.control(ControlType.Configure, { rpm: 5 })).success).toBe(true);
    expect(handler.configured).toEqual([{ rpm: 5 }]);
    const status = await peer.control(ControlType.Status);
    expect(status.data).toEqual({ ok: true, initialized: 1 });
    const sub = await peer.call(CommandMessage.subscribe('x.>'));
    expect(sub.success).toBe(false);
  });

  it('answers the server Finalize, runs onFinalize, and reconnects by default', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('fin');
    const client = await bed.client(hub.address, handler);
    const peer = await hub.peer('fin');
    const next = hub.nextPeer('fin');
    const answer = await peer.control(ControlType.Finalize);
    expect(answer.success).toBe(true);
    expect(handler.finalized).toBe(1);
    await next;
    await vi.waitFor(() => expect(client.state).toBe('connected'), { timeout: 3000 });
    expect(handler.initialized).toBe(2);
  });

  it("closes on the server Finalize with onServerFinalize: 'close'", async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('fin');
    const client = await bed.client(hub.address, handler, { onServerFinalize: 'close' });
    const peer = await hub.peer('fin');
    await peer.control(ControlType.Finalize);
    await client.run();
    expect(client.state).toBe('closed');
    expect(handler.finalized).toBe(1);
    await client.close();
    expect(handler.finalized).toBe(1);
  });
});

describe('IpcClient events', () => {
  it('keeps working when a listener throws, reporting it as an error event', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('ev'));
    const errors: IpcError[] = [];
    client.on('error', ({ error }) => errors.push(error));
    client.on('error', () => {
      throw new Error('error listener throws too');
    });
    client.on('disconnected', () => {
      throw new Error('listener bug');
    });
    const all: string[] = [];
    client.events.on('*', (type) => all.push(String(type)));
    hub.dropAll();
    await vi.waitFor(() => expect(client.state).toBe('connected'), { timeout: 3000 });
    await vi.waitFor(() => expect(all).toContain('connected'));
    expect(errors.some((e) => e.code === 'ERR_HANDLER' && e.message.includes('listener bug'))).toBe(
      true,
    );
    expect((await client.request('o.x')).success).toBe(true);
  });

  it('removes listeners with the function on() returns', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('ev'));
    let n = 0;
    const off = client.on('disconnected', () => n++);
    off();
    hub.dropAll();
    await vi.waitFor(() => expect(client.state).toBe('connected'), { timeout: 3000 });
    expect(n).toBe(0);
  });
});

describe('IpcClient.close', () => {
  it('sends Finalize, runs onFinalize once, fails what waits with ERR_SHUTDOWN, and is idempotent', async () => {
    const hub = await bed.hub({ onRequest: () => undefined });
    const handler = new RecordingHandler('bye');
    const client = await bed.client(hub.address, handler);
    const peer = await hub.peer('bye');
    const pending = client.request('o.never').catch((e: unknown) => e);
    const closedEvents: unknown[] = [];
    client.on('closed', (e) => closedEvents.push(e));
    const run = client.run();
    await Promise.all([client.close(), client.close()]);
    await run;
    expect(await pending).toMatchObject({ code: 'ERR_SHUTDOWN' });
    const fin = await peer.waitFor(
      (m) => m.messageType === MessageType.Control && m.controlType === ControlType.Finalize,
    );
    expect(fin.topic).toBe('bye');
    expect(handler.finalized).toBe(1);
    expect(client.state).toBe('closed');
    expect(closedEvents).toEqual([{}]);
    await peer.closed;
    await expect(client.request('o.x')).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    await expect(client.subscribe('o.x')).rejects.toMatchObject({ code: 'ERR_SHUTDOWN' });
    expect(() => client.broadcast('o.x', 1)).toThrow(
      expect.objectContaining({ code: 'ERR_SHUTDOWN' }),
    );
    await client.close();
    expect(handler.finalized).toBe(1);
  });

  it('does not wait long for a server that never answers Finalize', async () => {
    const hub = await bed.hub({ answerFinalize: false });
    const client = await bed.client(hub.address, new RecordingHandler('bye'));
    const started = Date.now();
    await client.close({ timeoutMs: 100 });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('closes while reconnecting, without running onFinalize twice', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('bye');
    const client = await bed.client(hub.address, handler, {
      reconnect: { firstDelayMaxMs: 0, initialDelayMs: 5000, maxDelayMs: 5000 },
    });
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    await delay(50);
    const started = Date.now();
    await client.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(handler.finalized).toBe(1);
  });

  it('supports await using', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('scoped');
    {
      await using client = await IpcClient.connect(tcpConnector(hub.address), handler);
      expect(client.isConnected).toBe(true);
    }
    expect(handler.finalized).toBe(1);
  });
});
