import { afterEach, describe, expect, it } from 'vitest';
import { IpcError } from '../../src/core/errors.ts';
import { CommandMessage, MessageType } from '../../src/core/message.ts';
import { IpcServer, isLoopbackHost } from '../../src/server/ipc-server.node.ts';
import type { IpcServerEvents } from '../../src/server/server-events.ts';
import { TestBed } from '../support/raw-peer.ts';

const bed = new TestBed();
afterEach(() => bed.dispose());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const isBroadcast = (m: CommandMessage): boolean => m.messageType === MessageType.Broadcast;

describe('IpcServer robustness', () => {
  it('closes only the peer that sends garbage bytes', async () => {
    const server = await bed.server();
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const good = await bed.module(server, 'good');
    const bad = await bed.module(server, 'bad');
    bad.sendBytes(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x01, 0x7b, 0x7d]));
    await bad.waitClosed();
    expect(errors.some((e) => e.code === 'ERR_FRAMING')).toBe(true);
    expect((await good.call(CommandMessage.request('system.ping'))).data).toBe('pong');
    expect(server.modules().map((m) => m.name)).toEqual(['good']);
  });

  it('closes a peer whose frame stays incomplete past the frame deadline', async () => {
    const server = await bed.server({ frameTimeoutMs: 200 });
    const errors: IpcError[] = [];
    server.on('error', (e) => errors.push(e.error));
    const stuck = await bed.module(server, 'stuck');
    const header = new Uint8Array([100, 0, 0, 0, MessageType.Request, 0x7b]);
    const started = performance.now();
    stuck.sendBytes(header);
    await stuck.waitClosed(3000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
    expect(errors.some((e) => e.code === 'ERR_FRAMING' && /incomplete/.test(e.message))).toBe(true);
  });

  it('closes a subscriber that stops reading as a slow consumer while others keep receiving', async () => {
    const server = await bed.server({ maxQueuedBytes: 256 * 1024, drainTimeoutMs: 5000 });
    const slowEvents: Array<IpcServerEvents['slowConsumer']> = [];
    server.on('slowConsumer', (e) => slowEvents.push(e));
    const publisher = await bed.module(server, 'pub');
    const slow = await bed.module(server, 'slow');
    const fast = await bed.module(server, 'fast');
    await slow.subscribe('flood.>');
    await fast.subscribe('flood.>');
    slow.pauseReading();

    const payload = 'x'.repeat(8 * 1024);
    let sent = 0;
    for (let batch = 0; batch < 200 && slowEvents.length === 0; batch++) {
      for (let i = 0; i < 32; i++)
        publisher.send(CommandMessage.broadcast('flood.data', { n: sent++, payload }));
      await publisher.call(CommandMessage.request('system.ping'), 5000);
      await fast.call(CommandMessage.request('system.ping'), 5000);
      fast.inbox.length = 0; // keep the test's memory flat
    }
    expect(slowEvents).toEqual([
      { name: 'slow', remoteAddress: expect.any(String) as unknown as string },
    ]);
    expect(fast.isClosed).toBe(false);
    publisher.send(CommandMessage.broadcast('flood.after', 'still here'));
    expect(
      (await fast.expectMessage((m) => isBroadcast(m) && m.topic === 'flood.after')).data,
    ).toBe('still here');
    // Once it reads again, the slow peer finds its connection closed.
    slow.resumeReading();
    await slow.waitClosed(5000);
  });

  it('answers Heartbeats, except one-way ones (transaction id 0)', async () => {
    const server = await bed.server();
    const peer = await bed.module(server, 'm');
    peer.send(CommandMessage.heartbeat(0));
    peer.send(CommandMessage.heartbeat(991));
    const beat = await peer.expectMessage(
      (m) => m.messageType === MessageType.Heartbeat && m.transactionId !== 0,
    );
    expect(beat.transactionId).toBe(991);
    await peer.expectNoMessage(
      (m) => m.messageType === MessageType.Heartbeat && m.transactionId === 0,
      50,
    );
  });

  it('closes a peer that stays silent for three heartbeat intervals, and keeps a live one', async () => {
    const server = await bed.server({ heartbeatMs: 100 });
    const gone: Array<IpcServerEvents['disconnected']> = [];
    server.on('disconnected', (e) => gone.push(e));
    const live = await bed.module(server, 'live');
    const silent = await bed.module(server, 'silent', {}, { answerHeartbeats: false });
    const started = performance.now();
    await silent.waitClosed(3000);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2000);
    await sleep(10);
    expect(gone).toMatchObject([{ name: 'silent', error: { code: 'ERR_CONNECTION' } }]);
    await sleep(200);
    expect(live.isClosed).toBe(false);
    // The server also sends heartbeats of its own when it has nothing else to say.
    expect(live.inbox.some((m) => m.messageType === MessageType.Heartbeat)).toBe(true);
  });

  it('refuses connections beyond maxConnections', async () => {
    const server = await bed.server({ maxConnections: 2 });
    const a = await bed.module(server, 'a');
    await bed.module(server, 'b');
    const third = await bed.peer(server);
    await third.waitClosed();
    await a.close();
    await sleep(30);
    const fourth = await bed.peer(server);
    expect((await fourth.register('d')).success).toBe(true);
  });

  it('refuses a non-loopback host unless allowNonLoopback is set', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      let caught: unknown;
      try {
        new IpcServer({ host, port: 0 });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(IpcError);
      expect((caught as IpcError).code).toBe('ERR_INVALID_ARGUMENT');
      expect((caught as IpcError).message).toMatch(/allowNonLoopback/);
      expect(() => new IpcServer({ host, port: 0, allowNonLoopback: true })).not.toThrow();
    }
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      'localhost',
      '::ffff:127.0.0.1',
    ]) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    expect(() => new IpcServer({ maxPayload: 0 })).toThrow(/maxPayload/);
  });

  it('keeps working when an event listener throws', async () => {
    const server = await bed.server();
    const errors: IpcError[] = [];
    server.on('connected', () => {
      throw new Error('listener bug');
    });
    server.on('registered', () => {
      throw new Error('listener bug');
    });
    server.on('error', (e) => errors.push(e.error));
    server.on('error', () => {
      throw new Error('error listener bug');
    });
    const peer = await bed.module(server, 'm');
    expect((await peer.call(CommandMessage.request('system.ping'))).data).toBe('pong');
    expect(errors.filter((e) => e.code === 'ERR_HANDLER')).toHaveLength(2);
  });
});
