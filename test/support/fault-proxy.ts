/**
 * A TCP proxy that sits between modules and a server and injects faults into the byte stream:
 * latency (with jitter), a bandwidth cap, random chunking (splits anywhere, inside the 5-byte
 * frame header too), a reset in the middle of a frame, and a half-close. Each direction has its
 * own settings, changeable while connections run; every random choice comes from one seeded
 * generator, so a failing run can be replayed with its seed.
 *
 * The proxy also follows the frame boundaries of each direction (it reads the 5-byte headers,
 * PROTOCOL.md section 1), which lets it cut strictly inside a frame and report every complete
 * frame it delivered (`onFrame`), so a test can count Responses on the wire.
 *
 * @example
 * ```ts
 * await using proxy = await FaultProxy.start({ target: server.address, seed: 42 });
 * proxy.configure('toClient', { latencyMs: 20, chunking: true });
 * const client = await IpcClient.connect(tcpConnector(proxy.address), handler);
 * proxy.resetMidFrame();   // every connection is reset inside its next frame
 * ```
 */
import net from 'node:net';

/** The two directions of a proxied connection. */
export type FaultDirection = 'toServer' | 'toClient';

/** Faults of one direction. Every member is optional; the default is a clean pass-through. */
export interface DirectionFaults {
  /** Delay added to every chunk, in ms. Default 0. */
  latencyMs?: number;
  /** Extra random delay in `[0, jitterMs)` per chunk (order is kept). Default 0. */
  jitterMs?: number;
  /** Bandwidth cap in bytes per second. Default: none. */
  bytesPerSecond?: number;
  /** Split every read into random chunks of 1..`maxChunk` bytes, each written on its own. Default off. */
  chunking?: boolean;
  /** Largest chunk when `chunking` is on. Default 16. */
  maxChunk?: number;
  /** Probability, per delivered chunk, of a reset strictly inside a frame (both sockets RST). Default 0. */
  resetProbability?: number;
  /** Probability, per delivered chunk, of half-closing this direction (FIN to its receiver). Default 0. */
  halfCloseProbability?: number;
}

/** Counts of what the proxy did, for a test's figure. */
export interface FaultCounts {
  connections: number;
  bytes: Record<FaultDirection, number>;
  chunks: Record<FaultDirection, number>;
  frames: Record<FaultDirection, number>;
  resetsMidFrame: number;
  halfCloses: number;
  /** Chunks held back by latency, jitter or the bandwidth cap. */
  delayedChunks: number;
}

/** A complete frame delivered to its receiver (see {@link FaultProxyOptions.onFrame}). */
export interface DeliveredFrame {
  direction: FaultDirection;
  /** Id of the proxied connection (1, 2, ... in accept order). */
  connection: number;
  type: number;
  payload: Buffer;
}

export interface FaultProxyOptions {
  /** `host:port` of the server. */
  target: string;
  /** Seed of the random choices. Default: a random one (read it from `proxy.seed` and print it). */
  seed?: number;
  /** Initial faults per direction. Default: none. */
  faults?: Partial<Record<FaultDirection, DirectionFaults>>;
  /** Called for every complete frame written to its receiver. Default: none. */
  onFrame?: (frame: DeliveredFrame) => void;
}

/** mulberry32: small, fast, good enough to drive faults, and reproducible from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Follows frame boundaries in one direction's byte stream and collects complete frames. */
class FrameTracker {
  /** Bytes of the current frame seen so far (header included); 0 at a boundary. */
  private offset = 0;
  private readonly header = Buffer.alloc(5);
  private payloadLength = 0;
  private payload: Buffer[] = [];
  /** Whether frames are collected (only when someone listens). */
  constructor(private readonly collect: boolean) {}

  /**
   * The cut points of `chunk` that fall strictly inside a frame: `n` is listed when writing
   * `chunk[0, n)` would leave the receiver holding part of a frame (possibly part of its header).
   */
  cutsInside(chunk: Buffer): number[] {
    const cuts: number[] = [];
    let offset = this.offset;
    let length = this.payloadLength;
    const header = Buffer.from(this.header);
    for (let n = 0; n <= chunk.length; n++) {
      if (offset !== 0) cuts.push(n);
      if (n === chunk.length) break;
      if (offset < 5) {
        header[offset++] = chunk[n] ?? 0;
        if (offset === 5) length = header.readUInt32LE(0);
      } else {
        // Jump over the rest of the payload within this chunk.
        const skip = Math.min(chunk.length - n, 5 + length - offset) - 1;
        for (let k = 0; k < skip; k++) cuts.push(n + 1 + k);
        n += skip;
        offset += skip + 1;
      }
      if (offset >= 5 && offset === 5 + length) offset = 0;
    }
    return cuts;
  }

  /** Consumes delivered bytes; returns the frames they completed. */
  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    const done: { type: number; payload: Buffer }[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.offset < 5) {
        this.header[this.offset++] = chunk[i++] ?? 0;
        if (this.offset === 5) {
          this.payloadLength = this.header.readUInt32LE(0);
          this.payload = [];
        }
      } else {
        const take = Math.min(chunk.length - i, 5 + this.payloadLength - this.offset);
        if (this.collect) this.payload.push(chunk.subarray(i, i + take));
        i += take;
        this.offset += take;
      }
      if (this.offset >= 5 && this.offset === 5 + this.payloadLength) {
        done.push({ type: this.header[4] ?? 0, payload: this.collect ? Buffer.concat(this.payload) : Buffer.alloc(0) });
        this.offset = 0;
        this.payload = [];
      }
    }
    return done;
  }
}

/** One direction of one proxied connection: reads `from`, delays and splits, writes `to`. */
class Pipe {
  private readonly queue: { chunk: Buffer; at: number }[] = [];
  private queuedBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  /** When the last queued chunk leaves (keeps order under jitter and the bandwidth cap). */
  private lastAt = 0;
  private readonly tracker: FrameTracker;
  ended = false;
  private resetPending = false;

  constructor(
    private readonly proxy: FaultProxy,
    private readonly link: ProxiedConnection,
    readonly direction: FaultDirection,
    private readonly from: net.Socket,
    private readonly to: net.Socket,
  ) {
    this.tracker = new FrameTracker(proxy.collectsFrames);
    from.on('data', (data: Buffer) => this.onData(data));
    from.on('end', () => this.onEnd());
  }

  private onData(data: Buffer): void {
    if (this.ended) return;
    const f = this.proxy.faults(this.direction);
    const random = this.proxy.random;
    const pieces: Buffer[] = [];
    if (f.chunking) {
      const max = Math.max(1, f.maxChunk ?? 16);
      for (let i = 0; i < data.length; ) {
        const n = 1 + Math.floor(random() * Math.min(max, data.length - i));
        pieces.push(data.subarray(i, i + n));
        i += n;
      }
    } else pieces.push(data);
    const now = performance.now();
    for (const chunk of pieces) {
      let at = Math.max(now, this.lastAt);
      const delay = (f.latencyMs ?? 0) + (f.jitterMs ? random() * f.jitterMs : 0);
      at = Math.max(at, now + delay);
      if (f.bytesPerSecond && f.bytesPerSecond > 0) at += (chunk.length * 1000) / f.bytesPerSecond;
      this.lastAt = at;
      this.queue.push({ chunk, at });
      this.queuedBytes += chunk.length;
    }
    // Backpressure: a slow (capped) direction stops reading its source.
    if (this.queuedBytes > 1 << 20) this.from.pause();
    this.pump();
  }

  private onEnd(): void {
    // The sender half-closed: pass the FIN on once everything before it has been delivered.
    this.queue.push({ chunk: Buffer.alloc(0), at: Math.max(performance.now(), this.lastAt) });
    this.pump();
  }

  /** Arms a reset strictly inside the next frame this direction delivers. */
  armReset(): void {
    this.resetPending = true;
  }

  halfClose(): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.proxy.counts.halfCloses++;
    if (!this.to.destroyed) this.to.end();
    this.link.maybeDone();
  }

  private pump(): void {
    if (this.timer !== undefined) return;
    while (this.queue.length > 0 && !this.ended && !this.link.destroyed) {
      const head = this.queue[0]!;
      const now = performance.now();
      if (head.at > now + 0.5) {
        this.proxy.counts.delayedChunks++;
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, head.at - now);
        return;
      }
      this.queue.shift();
      this.queuedBytes -= head.chunk.length;
      if (head.chunk.length === 0) {
        this.ended = true;
        if (!this.to.destroyed) this.to.end();
        this.link.maybeDone();
        return;
      }
      this.deliver(head.chunk);
    }
    if (this.queuedBytes <= 1 << 19 && this.from.isPaused()) this.from.resume();
  }

  private deliver(chunk: Buffer): void {
    const f = this.proxy.faults(this.direction);
    const random = this.proxy.random;
    if (!this.resetPending && f.resetProbability && random() < f.resetProbability) this.resetPending = true;
    if (this.resetPending) {
      // Cut at a random point of this chunk that is not a frame boundary, so the receiver holds
      // part of a frame (possibly part of its header) when the reset comes.
      const inside = this.tracker.cutsInside(chunk);
      if (inside.length > 0) {
        const n = inside[Math.floor(random() * inside.length)] ?? 0;
        this.write(chunk.subarray(0, n));
        this.proxy.counts.resetsMidFrame++;
        this.link.reset();
        return;
      }
    }
    this.write(chunk);
    if (f.halfCloseProbability && random() < f.halfCloseProbability) this.halfClose();
  }

  private write(chunk: Buffer): void {
    if (chunk.length === 0 || this.to.destroyed) return;
    this.proxy.counts.bytes[this.direction] += chunk.length;
    this.proxy.counts.chunks[this.direction]++;
    this.to.write(chunk);
    for (const frame of this.tracker.push(chunk)) {
      this.proxy.counts.frames[this.direction]++;
      this.proxy.onFrame?.({ direction: this.direction, connection: this.link.id, ...frame });
    }
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.queuedBytes = 0;
  }
}

/** A client socket, its server socket, and the two pipes between them. */
class ProxiedConnection {
  destroyed = false;
  readonly toServer: Pipe;
  readonly toClient: Pipe;

  constructor(
    private readonly proxy: FaultProxy,
    readonly id: number,
    private readonly client: net.Socket,
    private readonly server: net.Socket,
  ) {
    this.toServer = new Pipe(proxy, this, 'toServer', client, server);
    this.toClient = new Pipe(proxy, this, 'toClient', server, client);
    for (const s of [client, server]) {
      s.on('error', () => this.destroy());
      s.on('close', () => this.destroy());
    }
  }

  /** Both directions ended (FIN each way): the connection is over. */
  maybeDone(): void {
    if (this.toServer.ended && this.toClient.ended) {
      // Give the kernel a moment to send the last FIN, then make sure nothing lingers.
      setTimeout(() => this.destroy(), 1000).unref();
    }
  }

  /** RST both ways, no FIN, once the bytes already written have left. */
  reset(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.toServer.dispose();
    this.toClient.dispose();
    this.proxy.forget(this);
    // A reset while a write is still queued in the socket turns into a FIN (Node shuts the
    // stream down instead); wait until the partial frame is really out, then reset.
    let tries = 0;
    const go = (): void => {
      const queued = this.client.writableLength + this.server.writableLength;
      if (queued > 0 && tries++ < 100) {
        setTimeout(go, 1).unref();
        return;
      }
      for (const s of [this.client, this.server]) if (!s.destroyed) s.resetAndDestroy();
    };
    setImmediate(go);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.toServer.dispose();
    this.toClient.dispose();
    this.client.destroy();
    this.server.destroy();
    this.proxy.forget(this);
  }
}

/**
 * The proxy: listens on 127.0.0.1 (port 0) and connects every accepted socket to `target`.
 * See the file comment for what it injects.
 */
export class FaultProxy implements AsyncDisposable {
  readonly seed: number;
  readonly random: () => number;
  readonly counts: FaultCounts = {
    connections: 0,
    bytes: { toServer: 0, toClient: 0 },
    chunks: { toServer: 0, toClient: 0 },
    frames: { toServer: 0, toClient: 0 },
    resetsMidFrame: 0,
    halfCloses: 0,
    delayedChunks: 0,
  };
  readonly onFrame: ((frame: DeliveredFrame) => void) | undefined;
  readonly collectsFrames: boolean;
  private readonly settings: Record<FaultDirection, DirectionFaults>;
  private readonly links = new Set<ProxiedConnection>();
  private nextId = 1;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    options: FaultProxyOptions,
  ) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = seededRandom(this.seed);
    this.onFrame = options.onFrame;
    this.collectsFrames = options.onFrame !== undefined;
    this.settings = { toServer: { ...options.faults?.toServer }, toClient: { ...options.faults?.toClient } };
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Starts a proxy in front of `options.target`. */
  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const m = /^(.*):(\d+)$/.exec(options.target);
    if (!m) throw new TypeError(`FaultProxy: target must be host:port, got ${JSON.stringify(options.target)}`);
    const server = net.createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new FaultProxy(server, { host: m[1] ?? '127.0.0.1', port: Number(m[2]) }, options);
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `127.0.0.1:<port>`, what a module connects to. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections currently proxied. */
  get connectionCount(): number {
    return this.links.size;
  }

  /** Current faults of a direction (a copy). */
  faults(direction: FaultDirection): DirectionFaults {
    return { ...this.settings[direction] };
  }

  /** Replaces the faults of a direction; applies to bytes read from now on. */
  configure(direction: FaultDirection, faults: DirectionFaults): void {
    this.settings[direction] = { ...faults };
  }

  /** Resets every current connection strictly inside the next frame that crosses it in `direction`. */
  resetMidFrame(direction: FaultDirection = 'toClient'): number {
    for (const link of this.links) link[direction].armReset();
    return this.links.size;
  }

  /** Half-closes `direction` of one random current connection (FIN to its receiver); returns whether one was found. */
  halfCloseOne(direction: FaultDirection): boolean {
    const all = [...this.links].filter((l) => !l[direction].ended);
    const link = all[Math.floor(this.random() * all.length)];
    if (!link) return false;
    link[direction].halfClose();
    return true;
  }

  /** Resets every current connection at once (wherever the streams are). */
  resetAll(): void {
    for (const link of [...this.links]) link.reset();
  }

  /** @internal */
  forget(link: ProxiedConnection): void {
    this.links.delete(link);
  }

  private accept(client: net.Socket): void {
    client.pause();
    const server = net.connect({ ...this.target, allowHalfOpen: true, noDelay: true });
    const link = new ProxiedConnection(this, this.nextId++, client, server);
    this.counts.connections++;
    this.links.add(link);
    server.once('connect', () => client.resume());
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const link of [...this.links]) link.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
