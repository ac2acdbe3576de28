/**
 * IpcClient fault handling against the scripted fake hub: dropped and silent links, server
 * restarts, the offline buffer, subscriptions kept across reconnects, giving up.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IpcClient } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import { IpcError } from '../../src/core/errors.ts';
import { MessageType } from '../../src/core/message.ts';
import { ClientBed, FAST_RECONNECT, RecordingHandler, delay } from '../support/client-bed.ts';

const bed = new ClientBed();
afterEach(() => bed.dispose());

describe('IpcClient when the link drops', () => {
  it('rejects every request in flight with ERR_CONNECTION at once, then reconnects', async () => {
    const hub = await bed.hub({ onRequest: () => undefined });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const disconnected: unknown[] = [];
    client.on('disconnected', (e) => disconnected.push(e));
    const inflight = Array.from({ length: 10 }, (_, i) =>
      client.request(`o.${i}`).catch((e: unknown) => e),
    );
    const peer = await hub.peer('m');
    await vi.waitFor(() =>
      expect(peer.received.filter((m) => m.messageType === MessageType.Request)).toHaveLength(10),
    );
    const started = Date.now();
    peer.drop();
    const results = await Promise.all(inflight);
    expect(Date.now() - started).toBeLessThan(500);
    for (const r of results) expect(r).toMatchObject({ code: 'ERR_CONNECTION' });
    expect(client.inflight).toBe(0);
    expect(disconnected).toHaveLength(1);
    await vi.waitFor(() => expect(client.state).toBe('connected'), { timeout: 3000 });
    hub.options.onRequest = (m) => m.intoResponse('back');
    expect((await client.request('o.again')).data).toBe('back');
  });

  it('fails requests at once while disconnected (no offline buffer by default)', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    const started = Date.now();
    await expect(client.request('o.x')).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
    await expect(client.subscribe('o.x')).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
    expect(() => client.broadcast('o.x', 1)).toThrow(
      expect.objectContaining({ code: 'ERR_CONNECTION' }),
    );
    expect(client.broadcastSender().trySend('o.x', 1)).toBe(false);
    expect(Date.now() - started).toBeLessThan(300);
  });

  it('reconnects to a server restarted on the same port and re-registers', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('m');
    const client = await bed.client(hub.address, handler);
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    await delay(100);
    await hub.listen();
    await vi.waitFor(() => expect(client.state).toBe('connected'), { timeout: 3000 });
    expect(handler.initialized).toBe(2);
    expect((await client.request('o.x', 1)).data).toEqual({ echo: 1 });
  });

  it('retries a "Name already registered" refusal after a drop (its own stale session)', async () => {
    let registrations = 0;
    const hub = await bed.hub({
      refuse: () => (++registrations === 2 ? 'Name already registered: m' : undefined),
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    hub.dropAll();
    await vi.waitFor(() => expect(registrations).toBe(3), { timeout: 3000 });
    await vi.waitFor(() => expect(client.state).toBe('connected'));
  });

  it('closes for good on another refusal after a drop', async () => {
    let registrations = 0;
    const hub = await bed.hub({
      refuse: () => (++registrations === 2 ? 'Authentication failed' : undefined),
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const run = client.run().catch((e: unknown) => e);
    hub.dropAll();
    const err = await run;
    expect(err).toMatchObject({ code: 'ERR_REGISTRATION' });
    expect((err as IpcError).message).toContain('Authentication failed');
    expect(client.state).toBe('closed');
  });

  it('gives up after maxAttempts, rejecting run()', async () => {
    const hub = await bed.hub();
    const reconnecting: number[] = [];
    const client = await bed.client(hub.address, new RecordingHandler('m'), {
      reconnect: { ...FAST_RECONNECT, maxAttempts: 3 },
      listeners: { reconnecting: ({ attempt }) => reconnecting.push(attempt) },
    });
    const closed: unknown[] = [];
    client.on('closed', (e) => closed.push(e));
    await hub.stop();
    const err = await client.run().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_CONNECTION' });
    expect((err as IpcError).message).toContain('gave up after 3 reconnect attempts');
    expect(reconnecting).toEqual([1, 2, 3]);
    expect(closed).toHaveLength(1);
    expect(client.state).toBe('closed');
  });

  it('closes when the link drops with reconnect: false', async () => {
    const hub = await bed.hub();
    const handler = new RecordingHandler('m');
    const client = await bed.client(hub.address, handler, { reconnect: false });
    hub.dropAll();
    await expect(client.run()).rejects.toMatchObject({ code: 'ERR_CONNECTION' });
    expect(client.state).toBe('closed');
    expect(handler.finalized).toBe(1);
    await delay(100);
    expect(hub.connections).toBe(1);
  });
});

describe('IpcClient dead-peer detection', () => {
  it('drops a silent server after 3 heartbeat intervals and reconnects', async () => {
    const hub = await bed.hub({ ack: { heartbeat_ms: 100 }, onRequest: () => undefined });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const peer = await hub.peer('m');
    const next = hub.nextPeer('m');
    const disconnected: (IpcError | undefined)[] = [];
    client.on('disconnected', ({ error }) => disconnected.push(error));
    const pending = client.request('o.lost', null, { timeoutMs: 5000 }).catch((e: unknown) => e);
    await delay(20);
    const started = Date.now();
    peer.mute();
    expect(await pending).toMatchObject({ code: 'ERR_CONNECTION' });
    const took = Date.now() - started;
    // The last frame heard may predate the mute by up to one interval (a heartbeat answer), so
    // detection comes between 2 and 3 intervals (plus the 25 ms check period) after it.
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(1500);
    expect(disconnected[0]?.message).toMatch(/silent/);
    await next;
    await vi.waitFor(() => expect(client.state).toBe('connected'));
  });

  it('keeps a quiet but live link open (heartbeats answered)', async () => {
    const hub = await bed.hub({ ack: { heartbeat_ms: 50 } });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    let drops = 0;
    client.on('disconnected', () => drops++);
    await delay(400);
    expect(drops).toBe(0);
    expect(client.state).toBe('connected');
  });
});

describe('IpcClient offline buffer (opt-in)', () => {
  it('delivers buffered requests after the reconnect', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'), {
      offlineBuffer: { maxMessages: 10, ttlMs: 5000 },
    });
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    const a = client.request('o.a', 1);
    const b = client.write('o.b', 2);
    expect(client.buffered).toBe(2);
    await hub.listen();
    expect((await a).data).toEqual({ echo: 1 });
    expect((await b).data).toEqual({ echo: 2 });
    expect(client.buffered).toBe(0);
  });

  it('expires buffered requests after ttlMs, and refuses more than maxMessages', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'), {
      offlineBuffer: { maxMessages: 2, ttlMs: 100 },
    });
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    const a = client.request('o.a').catch((e: unknown) => e);
    const b = client.request('o.b').catch((e: unknown) => e);
    await expect(client.request('o.c')).rejects.toMatchObject({ code: 'ERR_BUFFER_FULL' });
    const started = Date.now();
    expect(await a).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(await b).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(400);
    expect(client.buffered).toBe(0);
  });

  it('aborts a buffered request and fails the rest with ERR_SHUTDOWN on close', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'), {
      offlineBuffer: { maxMessages: 5, ttlMs: 5000 },
    });
    await hub.stop();
    await vi.waitFor(() => expect(client.state).toBe('reconnecting'));
    const ac = new AbortController();
    const a = client.request('o.a', null, { signal: ac.signal }).catch((e: unknown) => e);
    const b = client.request('o.b').catch((e: unknown) => e);
    ac.abort();
    expect(await a).toMatchObject({ code: 'ERR_ABORTED' });
    expect(client.buffered).toBe(1);
    await client.close();
    expect(await b).toMatchObject({ code: 'ERR_SHUTDOWN' });
  });
});

describe('IpcClient subscriptions (fake hub)', () => {
  it('shares one server subscription between local ones with the same pattern', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const peer = await hub.peer('m');
    const s1 = await client.subscribe('plc.temp');
    const s2 = await client.subscribe('plc.temp');
    const subscribes = () => peer.received.filter((m) => m.messageType === MessageType.Subscribe);
    const unsubscribes = () =>
      peer.received.filter((m) => m.messageType === MessageType.Unsubscribe);
    expect(subscribes()).toHaveLength(1);
    expect(client.subscriptionPatterns).toEqual(['plc.temp']);
    await s1.unsubscribe();
    expect(unsubscribes()).toHaveLength(0);
    await s2.unsubscribe();
    expect(unsubscribes()).toHaveLength(1);
    expect(peer.subscriptions.size).toBe(0);
    expect(client.subscriptionPatterns).toEqual([]);
  });

  it('rejects a bad pattern locally and a refused one with the server reason', async () => {
    const hub = await bed.hub({
      refuseSubscribe: (p) => (p === 'too.many' ? 'Too many subscriptions' : undefined),
    });
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    await expect(client.subscribe('a.>.b')).rejects.toMatchObject({ code: 'ERR_INVALID_PATTERN' });
    await expect(client.subscribe('too.many')).rejects.toMatchObject({
      code: 'ERR_REMOTE',
      message: 'Too many subscriptions',
    });
    expect(client.subscriptionPatterns).toEqual([]);
    const peer = await hub.peer('m');
    expect(
      peer.received.filter((m) => m.messageType === MessageType.Subscribe).map((m) => m.topic),
    ).toEqual(['too.many']);
  });

  it('restores subscriptions after a reconnect', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const got: unknown[] = [];
    await client.subscribe('plc.temp', (m) => void got.push(m.data));
    const sub2 = await client.subscribe('plc.pressure');
    (await hub.peer('m')).broadcast('plc.temp', 1);
    await vi.waitFor(() => expect(got).toEqual([1]));
    const next = hub.nextPeer('m');
    hub.dropAll();
    const peer = await next;
    await vi.waitFor(() => expect(client.state).toBe('connected'));
    expect([...peer.subscriptions].sort()).toEqual(['plc.pressure', 'plc.temp']);
    peer.broadcast('plc.temp', 2);
    peer.broadcast('plc.pressure', 3);
    await vi.waitFor(() => expect(got).toEqual([1, 2]));
    const it = sub2[Symbol.asyncIterator]();
    expect((await it.next()).value?.data).toBe(3);
  });

  it('settles a subscribe waiting on its Subscribe when the link drops', async () => {
    const hub = await bed.hub();
    const client = await bed.client(hub.address, new RecordingHandler('m'));
    const peer = await hub.peer('m');
    peer.mute();
    const p = client.subscribe('x.y').catch((e: unknown) => e);
    await delay(20);
    peer.drop();
    expect(await p).toMatchObject({ code: 'ERR_CONNECTION' });
    expect(client.subscriptionPatterns).toEqual([]);
  });
});

describe('IpcClient connector', () => {
  it('closes a transport delivered after the attempt was abandoned', async () => {
    const hub = await bed.hub();
    let late: Promise<unknown> | undefined;
    const slow = tcpConnector(hub.address);
    const connector = (opts: { signal?: AbortSignal }) => {
      // Ignores the signal and delivers late.
      const p = delay(300).then(() => slow({}));
      late = p;
      void opts;
      return p;
    };
    const err = await IpcClient.connect(connector, new RecordingHandler('m'), {
      handshakeTimeoutMs: 100,
      retryFirstConnect: false,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_TIMEOUT' });
    await late;
    await vi.waitFor(() => expect(hub.peers.every((p) => p.isClosed)).toBe(true));
  });
});
