/**
 * Many hostile raw TCP connections at once, for the flood and slowloris checks of the reliability
 * suite: each one is a bare `net.Socket` that records when it opened, when it last wrote and when
 * the other side closed it, so a test can hold every close to its deadline.
 *
 * @example
 * ```ts
 * const socks = await openSockets(stack.port, 500);
 * for (const s of socks) s.write(announce(0xffffffff, 1));
 * const late = await allClosedWithin(socks, 2000);
 * destroyAll(socks);
 * ```
 */
import net from 'node:net';
import { encodeFrame } from '../../../src/core/frame.ts';
import { CommandMessage, ControlType } from '../../../src/core/message.ts';

/** One hostile connection and its timeline (ms, `performance.now()` clock). */
export interface FloodSocket {
  readonly socket: net.Socket;
  /** When `connect` fired. */
  readonly openedAt: number;
  /** When the first byte was written (undefined until then). */
  firstWriteAt: number | undefined;
  /** When the peer closed it (undefined while open). */
  closedAt: number | undefined;
  /** Bytes received from the peer (an HTTP error answer, a RegisterAck, ...). */
  received: Buffer[];
  /** Resolves with `closedAt` once the socket is closed. */
  readonly closed: Promise<number>;
  /** Writes and records the first write time. */
  write(bytes: Uint8Array | string): void;
}

/** Options of {@link openSockets}. */
export interface OpenSocketsOptions {
  /** Connections being opened at the same moment (the rest wait their turn). Default 100. */
  concurrency?: number;
  /** Give up on one connect after this long. Default 5000 ms. */
  timeoutMs?: number;
}

/** Opens one raw connection to `127.0.0.1:port`; rejects on error or after `timeoutMs`. */
export function openSocket(port: number, timeoutMs = 5000): Promise<FloodSocket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to port ${port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    let settle: (t: number) => void = () => {};
    const closed = new Promise<number>((res) => (settle = res));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // A reset from the server is one way of being closed; the close event follows.
    socket.on('error', () => {});
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      const fs: FloodSocket = {
        socket,
        openedAt: performance.now(),
        firstWriteAt: undefined,
        closedAt: undefined,
        received,
        closed,
        write(bytes) {
          if (socket.destroyed) return;
          fs.firstWriteAt ??= performance.now();
          socket.write(bytes);
        },
      };
      socket.once('close', () => {
        fs.closedAt = performance.now();
        settle(fs.closedAt);
      });
      resolve(fs);
    });
  });
}

/** Opens `count` raw connections, at most `concurrency` at a time. Rejects if one fails. */
export async function openSockets(
  port: number,
  count: number,
  options: OpenSocketsOptions = {},
): Promise<FloodSocket[]> {
  const { concurrency = 100, timeoutMs = 5000 } = options;
  const out: FloodSocket[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      out.push(await openSocket(port, timeoutMs));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  } catch (e) {
    destroyAll(out);
    throw e;
  }
  return out;
}

/**
 * Waits until every socket is closed or `timeoutMs` passed; resolves with the sockets still
 * open then (empty when all closed).
 */
export async function allClosedWithin(
  sockets: readonly FloodSocket[],
  timeoutMs: number,
): Promise<FloodSocket[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((res) => (timer = setTimeout(res, timeoutMs)));
  await Promise.race([Promise.all(sockets.map((s) => s.closed)), timeout]);
  clearTimeout(timer);
  return sockets.filter((s) => s.closedAt === undefined);
}

/** Destroys every socket still open (test cleanup). */
export function destroyAll(sockets: readonly FloodSocket[]): void {
  for (const s of sockets) s.socket.destroy();
}

/** A bare 5-byte frame header announcing `length` payload bytes of message type `type`. */
export function announce(length: number, type: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32LE(length >>> 0, 0);
  header[4] = type;
  return header;
}

/** The frame of a Control/Register for `name` (no token), as a module would send it. */
export function registerFrame(name: string): Uint8Array {
  const msg = CommandMessage.control(ControlType.Register, name, {
    name,
    version: '1.0.0',
    capabilities: [],
  });
  return encodeFrame(msg, 1 << 20);
}

/** A one-way Heartbeat frame (transaction id 0: the server does not answer it). */
export function heartbeatFrame(): Uint8Array {
  return encodeFrame(CommandMessage.heartbeat(0), 1 << 20);
}

/**
 * Writes `bytes` one at a time, one every `everyMs`, until they are all written or the socket is
 * closed. Resolves when it stops. The first byte goes out at once.
 */
export async function trickle(s: FloodSocket, bytes: Uint8Array, everyMs: number): Promise<void> {
  for (let i = 0; i < bytes.length; i++) {
    if (s.closedAt !== undefined || s.socket.destroyed) return;
    s.write(bytes.subarray(i, i + 1));
    if (i + 1 < bytes.length) {
      await Promise.race([new Promise((r) => setTimeout(r, everyMs)), s.closed]);
    }
  }
}

/**
 * Close times measured against a deadline: for each socket, `closedAt - start(s)`, with `start`
 * the moment its deadline began (its first byte, or its connect).
 */
export function closeDelays(
  sockets: readonly FloodSocket[],
  start: (s: FloodSocket) => number | undefined,
): number[] {
  const out: number[] = [];
  for (const s of sockets) {
    const from = start(s);
    if (s.closedAt !== undefined && from !== undefined) out.push(s.closedAt - from);
  }
  return out;
}

/**
 * Calls `fn` on every item, `size` items at a time with `gapMs` between waves: a thousand hostile
 * connections act within a fraction of a second, while each one's own deadline stays measurable
 * (all at the very same instant, the figure would be the time the server takes to work through
 * a thousand closes, not the time it takes to react to one).
 */
export async function inWaves<T>(
  items: readonly T[],
  size: number,
  gapMs: number,
  fn: (item: T, index: number) => void,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    items.slice(i, i + size).forEach((item, j) => fn(item, i + j));
  }
}

/**
 * How long after its first byte the server closed each incomplete frame, as the server itself
 * measured it: read from its close reasons (`frame incomplete <n> ms after its first byte`). Unlike
 * a close time seen by the test, it does not include the test process's own delay in noticing,
 * which on a loaded machine can be the larger part.
 */
export function frameDeadlineElapsed(reasons: readonly string[]): number[] {
  const out: number[] = [];
  for (const r of reasons) {
    const m = /frame incomplete (\d+) ms after its first byte/.exec(r);
    if (m !== null) out.push(Number(m[1]));
  }
  return out;
}
