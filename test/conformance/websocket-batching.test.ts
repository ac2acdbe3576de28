/**
 * The WebSocket transport over Node's `ws` batches: the messages sent during one tick (across
 * any number of microtasks, as a chain of awaited requests makes them) leave in one socket
 * write, except that the first few KiB of a large tick leave early. Order is always kept.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import {
  connectWebSocket,
  type WebSocketConstructor,
  type WebSocketTransport,
} from '../../src/transports/websocket.ts';

interface WritableInternals {
  _write: (...args: unknown[]) => unknown;
  _writev?: (...args: unknown[]) => unknown;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A `ws` server collecting text messages, and a transport to it whose socket writes are counted. */
async function pair(): Promise<{
  transport: WebSocketTransport;
  received: string[];
  writes: () => number;
}> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => wss.close(() => resolve())));
  const received: string[] = [];
  wss.on('connection', (ws) => ws.on('message', (data) => received.push(String(data))));
  const made: WebSocket[] = [];
  class Recorded extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      made.push(this);
    }
  }
  const { port } = wss.address() as AddressInfo;
  const transport = await connectWebSocket(`ws://127.0.0.1:${port}`, {
    WebSocket: Recorded as unknown as WebSocketConstructor,
  });
  cleanups.push(() => transport.end());
  const socket = (made[0] as unknown as { _socket: WritableInternals })._socket;
  let count = 0;
  for (const key of ['_write', '_writev'] as const) {
    const original = socket[key];
    if (original === undefined) continue;
    socket[key] = function (this: unknown, ...args: unknown[]) {
      count++;
      return original.apply(this, args);
    };
  }
  return { transport, received, writes: () => count };
}

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('WebSocketTransport batching over Node ws', () => {
  it('sends the messages of one tick, across microtasks, in one write', async () => {
    const { transport, received, writes } = await pair();
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const text = JSON.stringify({ i, pad: 'x'.repeat(20) });
      sent.push(text);
      transport.send(text);
      // Each await is a microtask hop, as between two requests of a pipelined client.
      await Promise.resolve();
    }
    await until(() => received.length === sent.length);
    expect(received).toEqual(sent);
    expect(writes()).toBe(1);
  });

  it('lets the first few KiB of a large tick leave early, keeping the order', async () => {
    const { transport, received, writes } = await pair();
    const sent = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify({ i, pad: 'y'.repeat(1000) }),
    );
    for (const text of sent) transport.send(text);
    await until(() => received.length === sent.length);
    expect(received).toEqual(sent);
    expect(writes()).toBe(2);
  });

  it('writes the messages of different ticks separately', async () => {
    const { transport, received, writes } = await pair();
    transport.send('{"a":1}');
    await new Promise((r) => setImmediate(r));
    transport.send('{"a":2}');
    await until(() => received.length === 2);
    expect(received).toEqual(['{"a":1}', '{"a":2}']);
    expect(writes()).toBe(2);
  });
});
