/**
 * Subscribers and a publisher for the slow-consumer check of the reliability suite.
 *
 * A {@link CountingSubscriber} is a module on a raw socket that counts the Broadcasts it receives
 * from their frame headers alone, without parsing their JSON: ten of them at thousands of
 * messages a second must not make the test process the bottleneck of the rate they measure. It
 * answers Initialize and Heartbeats like a live module, and can stop reading (`pause()`), which
 * turns it into a slow consumer.
 *
 * @example
 * ```ts
 * const sub = await CountingSubscriber.connect(stack.port, 'sub0', 'pub.>');
 * const before = sub.count;
 * // ... publish ...
 * console.log(sub.count - before);
 * ```
 */
import net from 'node:net';
import { FrameDecoder } from '../../../src/core/frame-decoder.ts';
import { decodePayload, encodeFrame } from '../../../src/core/frame.ts';
import { CommandMessage, ControlType, MessageType } from '../../../src/core/message.ts';
import type { RawPeer } from '../../support/raw-peer.ts';
import { registerFrame } from './flood-sockets.ts';

const BIG = 64 * 1024 * 1024;

/** A module that subscribes to a pattern and counts the Broadcasts that arrive. */
export class CountingSubscriber {
  /** Broadcasts received. */
  count = 0;
  /** Payload bytes of those Broadcasts. */
  bytes = 0;
  /** When the server closed it (`Date.now()`), if it did. */
  closedAt: number | undefined;
  readonly closed: Promise<void>;
  private readonly decoder = new FrameDecoder({ maxPayload: BIG });
  private readonly waiters = new Map<number, (m: CommandMessage) => void>();

  private constructor(readonly socket: net.Socket) {
    let done: () => void = () => {};
    this.closed = new Promise((r) => (done = r));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedAt = Date.now();
      done();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.pushFrames(chunk, this.onFrame);
      } catch {
        socket.destroy();
      }
    });
  }

  /**
   * Connects to `127.0.0.1:port`, registers `name`, answers its Initialize and subscribes to
   * `pattern`; resolves once the subscription is confirmed.
   */
  static async connect(port: number, name: string, pattern: string): Promise<CountingSubscriber> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    const sub = new CountingSubscriber(socket);
    try {
      const initialized = sub.expect(
        (m) => m.messageType === MessageType.Control && m.controlType === ControlType.Initialize,
      );
      socket.write(registerFrame(name));
      const init = await initialized;
      socket.write(encodeFrame(init.intoResponse(null), BIG));
      const req = CommandMessage.subscribe(pattern);
      const answer = sub.expect(
        (m) => m.messageType === MessageType.Response && m.transactionId === req.transactionId,
      );
      socket.write(encodeFrame(req, BIG));
      const ok = await answer;
      if (!ok.success) throw new Error(`subscribe ${pattern} refused: ${ok.errorMessage}`);
    } catch (e) {
      socket.destroy();
      throw e;
    }
    return sub;
  }

  /** Stops reading: the kernel buffers fill, then the server's own queue towards it. */
  pause(): void {
    this.socket.pause();
  }

  close(): void {
    this.socket.destroy();
  }

  private nextWaiter = 1;

  private expect(pred: (m: CommandMessage) => boolean, timeoutMs = 5000): Promise<CommandMessage> {
    return new Promise((resolve, reject) => {
      const id = this.nextWaiter++;
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`subscriber: expected message not received within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (m) => {
        if (!pred(m)) return;
        clearTimeout(timer);
        this.waiters.delete(id);
        resolve(m);
      });
    });
  }

  private readonly onFrame = (type: number, payload: Uint8Array): void => {
    if (type === MessageType.Broadcast) {
      this.count++;
      this.bytes += payload.length;
      return;
    }
    const msg = decodePayload(type, payload, 64);
    if (msg.messageType === MessageType.Heartbeat && msg.transactionId !== 0) {
      this.socket.write(encodeFrame(CommandMessage.heartbeat(msg.transactionId), BIG));
      return;
    }
    for (const w of [...this.waiters.values()]) w(msg);
  };
}

/**
 * A module on a raw socket that registers and subscribes and never reads a single byte: its
 * Register and Subscribe go out blind, with the socket paused from the start. The server must
 * not wait for it to answer Initialize (give it a long `initializeTimeoutMs`) for the drain
 * deadline to be what ends it.
 */
export function neverReadingSubscriber(
  port: number,
  name: string,
  pattern: string,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.pause();
      socket.write(
        Buffer.concat([registerFrame(name), encodeFrame(CommandMessage.subscribe(pattern), BIG)]),
      );
      resolve(socket);
    });
    socket.once('error', reject);
    socket.on('error', () => {});
  });
}

/** A paced publisher: `perTick` Broadcasts every `tickMs`, round-robin over `topics`. */
export interface Publisher {
  /** Broadcasts sent so far. */
  readonly sent: number;
  stop(): Promise<void>;
}

/**
 * Publishes from `peer` (a registered module) at a fixed pace until `stop()`: the pace, not the
 * machine, sets the rate, so a healthy subscriber's rate is comparable between two phases. The
 * pace follows the clock (timers fire late under load), but a stall is made up for by at most
 * two ticks' worth: a long one is dropped, not sent as a burst that would flatter one phase.
 */
export function publish(
  peer: RawPeer,
  options: { topics: string[]; payloadBytes: number; perTick: number; tickMs: number },
): Publisher {
  const blob = 'x'.repeat(options.payloadBytes);
  let sent = 0;
  let running = true;
  const loop = (async () => {
    const start = performance.now();
    let due = 0;
    while (running && !peer.isClosed) {
      const nowDue = Math.floor((performance.now() - start) / options.tickMs) * options.perTick;
      const todo = Math.min(nowDue - due, 2 * options.perTick);
      due = nowDue;
      for (let i = 0; i < todo; i++) {
        const topic = options.topics[sent % options.topics.length] as string;
        peer.send(CommandMessage.broadcast(topic, { n: sent, blob }));
        sent++;
      }
      await new Promise((r) => setTimeout(r, options.tickMs));
    }
  })();
  return {
    get sent() {
      return sent;
    },
    stop: async () => {
      running = false;
      await loop;
    },
  };
}
