/**
 * Item 6 of the reliability issue: modules talk to the server through a fault proxy
 * (test/support/fault-proxy.ts) that adds latency, caps bandwidth, splits the stream anywhere
 * (inside frame headers too), resets connections in the middle of a frame and half-closes them,
 * while many requests run concurrently and the modules reconnect. Every request must be answered
 * exactly once with its own answer, or rejected exactly once; no Response may be lost (a request
 * never settles) or duplicated (two Responses for one request on the wire, or a request served
 * twice).
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcClient } from '../../src/client/ipc-client.ts';
import { tcpConnector } from '../../src/client/tcp-connector.node.ts';
import { MessageType } from '../../src/core/message.ts';
import { IpcServer } from '../../src/server/ipc-server.node.ts';
import {
  FaultProxy,
  seededRandom,
  type DirectionFaults,
  type FaultDirection,
} from '../support/fault-proxy.ts';
import { byMode, recordFigure } from './support/figures.ts';
import {
  EchoHandler,
  RequestLedger,
  formatOutcomes,
  runLoad,
  waitUntil,
} from './support/fault-load.ts';

const REQUEST_TIMEOUT_MS = 2000;
const MODULES = 4;
const CONCURRENCY = 12;
const DURATION_MS = byMode(15_000, 180_000);
/** How often the fault schedule changes something. */
const STEP_MS = 250;

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

/** Random faults for one direction (or none, a quarter of the time). */
function randomFaults(random: () => number): DirectionFaults {
  if (random() < 0.25) return {};
  const f: DirectionFaults = {};
  if (random() < 0.6) f.latencyMs = Math.floor(random() * 40);
  if (random() < 0.5) f.jitterMs = Math.floor(random() * 30);
  if (random() < 0.3) f.bytesPerSecond = 20_000 + Math.floor(random() * 200_000);
  if (random() < 0.6) {
    f.chunking = true;
    f.maxChunk = 1 + Math.floor(random() * 64);
  }
  return f;
}

/** A TCP sink that keeps what it received and reports how its connection ended. */
async function sink(): Promise<{
  address: string;
  got: Buffer[];
  sockets: net.Socket[];
  ended: Promise<'end' | 'reset'>;
  close(): Promise<void>;
}> {
  const got: Buffer[] = [];
  let ended!: (how: 'end' | 'reset') => void;
  const endedP = new Promise<'end' | 'reset'>((r) => (ended = r));
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('data', (d: Buffer) => got.push(d));
    s.on('end', () => ended('end'));
    s.on('error', () => ended('reset'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    got,
    sockets,
    ended: endedP,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Frames as on the wire: u32 LE length, type byte, payload. */
function frames(count: number): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 50) }));
    const header = Buffer.alloc(5);
    header.writeUInt32LE(payload.length, 0);
    header[4] = 1;
    parts.push(header, payload);
  }
  return Buffer.concat(parts);
}

async function connectTo(address: string): Promise<net.Socket> {
  const [host, port] = address.split(':');
  const socket = net.connect({ host, port: Number(port), allowHalfOpen: true });
  await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j));
  return socket;
}

describe('FaultProxy', () => {
  it('delivers the exact byte stream through random chunks, latency and a bandwidth cap', async () => {
    const target = await sink();
    cleanup.push(() => target.close());
    const seen: number[] = [];
    const proxy = await FaultProxy.start({
      target: target.address,
      seed: 7,
      faults: {
        toServer: {
          chunking: true,
          maxChunk: 3,
          latencyMs: 5,
          jitterMs: 5,
          bytesPerSecond: 200_000,
        },
      },
      onFrame: (f) => seen.push(f.type),
    });
    cleanup.push(() => proxy.close());
    const socket = await connectTo(proxy.address);
    const bytes = frames(200);
    socket.end(bytes);
    expect(await target.ended).toBe('end');
    expect(Buffer.concat(target.got).equals(bytes)).toBe(true);
    expect(seen).toHaveLength(200);
    // Split into many writes of at most 3 bytes, so frame headers were split too.
    expect(proxy.counts.chunks.toServer).toBeGreaterThanOrEqual(Math.ceil(bytes.length / 3));
    expect(proxy.counts.delayedChunks, JSON.stringify(proxy.counts)).toBeGreaterThan(0);
  });

  it('resets strictly inside a frame, and half-closes with a FIN', async () => {
    const target = await sink();
    cleanup.push(() => target.close());
    const proxy = await FaultProxy.start({ target: target.address, seed: 11 });
    cleanup.push(() => proxy.close());
    const socket = await connectTo(proxy.address);
    socket.on('error', () => {});
    const bytes = frames(50);
    await waitUntil(() => proxy.connectionCount === 1, 2000);
    proxy.resetMidFrame('toServer');
    socket.write(bytes);
    // The receiver sees the RST as ECONNRESET, or as an end of stream when the kernel reports
    // the reset before the last read; either way the connection is gone mid-frame.
    expect(['reset', 'end']).toContain(await target.ended);
    const got = Buffer.concat(target.got);
    expect(got.length).toBeLessThan(bytes.length);
    expect(bytes.subarray(0, got.length).equals(got)).toBe(true);
    // The cut is not at a frame boundary: walking the frames of what arrived leaves a remainder.
    let offset = 0;
    while (offset + 5 <= got.length && offset + 5 + got.readUInt32LE(offset) <= got.length)
      offset += 5 + got.readUInt32LE(offset);
    expect(offset).toBeLessThan(got.length);
    expect(proxy.counts.resetsMidFrame).toBe(1);

    const second = await sink();
    cleanup.push(() => second.close());
    const proxy2 = await FaultProxy.start({ target: second.address, seed: 12 });
    cleanup.push(() => proxy2.close());
    const s2 = await connectTo(proxy2.address);
    await waitUntil(() => proxy2.connectionCount === 1, 2000);
    expect(proxy2.halfCloseOne('toServer')).toBe(true);
    expect(await second.ended).toBe('end');
    // Half: the other direction still carries bytes.
    const back = new Promise<Buffer>((r) => s2.once('data', r));
    second.sockets[0]?.write('still open');
    expect((await back).toString()).toBe('still open');
    expect(proxy2.counts.halfCloses).toBe(1);
    s2.destroy();
  });
});

describe('modules behind a fault proxy', () => {
  it('get every request answered once with its own answer, or rejected once', async () => {
    const seed = Number(process.env.FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`[reliability 6] fault proxy seed ${seed} (replay with FAULT_SEED=${seed})`);
    const random = seededRandom(seed ^ 0x5bd1e995);

    const server = await IpcServer.listen({ port: 0, requestTimeoutMs: 1500, heartbeatMs: 1000 });
    cleanup.push(() => server.close({ timeoutMs: 500 }));

    // Wire-level count of Responses per request uid, as delivered to the modules, and of
    // Requests per uid as delivered to the server.
    const responsesOnWire = new Map<string, number>();
    const requestsOnWire = new Map<string, number>();
    let undecodable = 0;
    const proxy = await FaultProxy.start({
      target: server.address,
      seed,
      onFrame: (frame) => {
        const { direction, type, payload } = frame;
        if (type !== MessageType.Response && type !== MessageType.Request) return;
        let uid: unknown;
        try {
          uid = (JSON.parse(payload.toString('utf8')) as { data?: { uid?: unknown } }).data?.uid;
        } catch {
          undecodable++;
          return;
        }
        if (typeof uid !== 'string') return;
        if (direction === 'toClient' && type === MessageType.Response)
          responsesOnWire.set(uid, (responsesOnWire.get(uid) ?? 0) + 1);
        if (direction === 'toServer' && type === MessageType.Request)
          requestsOnWire.set(uid, (requestsOnWire.get(uid) ?? 0) + 1);
      },
    });
    cleanup.push(() => proxy.close());

    const names = Array.from({ length: MODULES }, (_, i) => `fp${i}`);
    const handlers = names.map((n) => new EchoHandler(n, 20, random));
    const clients: IpcClient[] = [];
    for (const h of handlers) {
      const client = await IpcClient.connect(tcpConnector(proxy.address, { timeoutMs: 2000 }), h, {
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        handshakeTimeoutMs: 3000,
        reconnect: { firstDelayMaxMs: 50, initialDelayMs: 50, maxDelayMs: 500 },
      });
      clients.push(client);
      cleanup.push(() => client.close({ timeoutMs: 200 }));
    }

    const ledger = new RequestLedger();
    const stop = new AbortController();
    const load = runLoad(clients, stop.signal, {
      ledger,
      targets: [...names, 'system'],
      concurrency: CONCURRENCY,
      random,
    });

    // The fault schedule: each step changes the faults of one direction, resets connections in
    // the middle of a frame, or half-closes one, at random.
    const injected = { reconfigured: 0, resetMidFrame: 0, halfClose: 0 };
    const started = performance.now();
    while (performance.now() - started < DURATION_MS) {
      await new Promise((r) => setTimeout(r, STEP_MS * (0.5 + random())));
      const direction: FaultDirection = random() < 0.5 ? 'toServer' : 'toClient';
      const pick = random();
      if (pick < 0.6) {
        proxy.configure(direction, randomFaults(random));
        injected.reconfigured++;
      } else if (pick < 0.8) {
        if (proxy.resetMidFrame(direction) > 0) injected.resetMidFrame++;
      } else if (proxy.halfCloseOne(direction)) injected.halfClose++;
    }
    stop.abort();
    proxy.configure('toServer', {});
    proxy.configure('toClient', {});
    await load;
    await ledger.settled(REQUEST_TIMEOUT_MS + 1000);

    // Recovery: on a clean link every module is back and answers.
    const back = await waitUntil(() => clients.every((c) => c.isConnected), 5000);
    expect(back, 'every module reconnected once the faults stopped').toBe(true);
    const after = new RequestLedger('final-');
    const finalReplies = await Promise.all(
      clients.map((c, i) => after.echo(c, names[(i + 1) % MODULES] ?? 'system')),
    );
    for (const r of finalReplies) expect(r).not.toBeInstanceOf(Error);

    const s = ledger.summary(REQUEST_TIMEOUT_MS + 1000);
    let duplicatedOnWire = 0;
    let resolvedWithoutWireResponse = 0;
    for (const [uid, e] of ledger.entries) {
      if ((responsesOnWire.get(uid) ?? 0) > 1) duplicatedOnWire++;
      if ((requestsOnWire.get(uid) ?? 0) > 1) duplicatedOnWire++;
      if (e.outcome === 'resolved' && e.target !== 'system' && responsesOnWire.get(uid) !== 1)
        resolvedWithoutWireResponse++;
    }
    let servedTwice = 0;
    for (const h of handlers) for (const n of h.served.values()) if (n > 1) servedTwice++;
    const faults = proxy.counts;
    const totalFaults = injected.reconfigured + faults.resetsMidFrame + faults.halfCloses;
    const ok =
      s.unsettled === 0 &&
      s.multiSettled === 0 &&
      s.wrongAnswers.length === 0 &&
      s.late === 0 &&
      duplicatedOnWire === 0 &&
      servedTwice === 0 &&
      resolvedWithoutWireResponse === 0;
    recordFigure({
      item: 6,
      name: 'fault proxy',
      tried: `${MODULES} modules x ${CONCURRENCY} concurrent requests through a proxy injecting latency, bandwidth caps, random chunking, resets mid-frame and half-closes (seed ${seed})`,
      times: `${s.total} requests, ${(DURATION_MS / 1000).toFixed(0)} s, ${totalFaults} faults (${injected.reconfigured} reconfigurations, ${faults.resetsMidFrame} resets mid-frame, ${faults.halfCloses} half-closes), ${faults.connections} connections, ${faults.frames.toClient + faults.frames.toServer} frames`,
      figure: `lost ${s.unsettled}, duplicated ${duplicatedOnWire + servedTwice}, wrong answers ${s.wrongAnswers.length}, late ${s.late}; ${formatOutcomes(s)}; slowest settle ${Math.round(s.maxSettleMs)} ms`,
      target: 'every request answered once or rejected once, within the request timeout + 1 s',
      ok,
    });

    expect(undecodable, 'frames the proxy delivered whole are valid JSON').toBe(0);
    expect(s.unsettled, 'requests that never settled').toBe(0);
    expect(s.multiSettled).toBe(0);
    expect(s.wrongAnswers).toEqual([]);
    expect(s.late, `requests settled later than ${REQUEST_TIMEOUT_MS + 1000} ms`).toBe(0);
    expect(duplicatedOnWire, 'a Request or Response crossed the wire twice').toBe(0);
    expect(servedTwice, 'a request was served twice').toBe(0);
    expect(resolvedWithoutWireResponse).toBe(0);
    // The run must have exercised the faults it claims to test.
    expect(s.resolved).toBeGreaterThan(100);
    expect(Object.values(s.rejected).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    expect(faults.resetsMidFrame).toBeGreaterThan(0);
    expect(faults.halfCloses).toBeGreaterThan(0);
    for (const c of clients) expect(c.pending).toBe(0);
  }, DURATION_MS + 120_000);
});
