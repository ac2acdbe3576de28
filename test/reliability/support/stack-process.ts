/**
 * An IpcServer (and optionally a bridge) in a child process: a test measures its RSS and file
 * descriptors apart from its own, watches its events, and can kill it with SIGKILL.
 *
 * @example
 * ```ts
 * await using stack = await startStack({ server: { frameTimeoutMs: 2000 } });
 * const before = await stack.stats();
 * // ... attack 127.0.0.1:stack.port ...
 * expect((await stack.stats()).fds).toBe(before.fds);
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IpcServerOptions } from '../../../src/node.ts';
import type { BridgeOptions } from '../../../bridge/index.ts';
import { readLines } from './json-lines.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = resolve(ROOT, 'test/reliability/support/stack-main.ts');

export interface StackConfig {
  server?: IpcServerOptions;
  bridge?: BridgeOptions;
  /** Server events to watch (ServerEvents names); see {@link Stack.events}. */
  events?: string[];
  /**
   * Relay the bridge to this `host:port` (e.g. another stack's `address`) instead of the child's
   * own server, so a bridge runs and is measured in a process of its own.
   */
  bridgeUpstream?: string;
}

/**
 * Event-loop delay of the child in milliseconds (how late its timers fire), over the window
 * since it started or since the last `stats({ resetEventLoopDelay: true })`.
 */
export interface EventLoopDelay {
  p50: number;
  p99: number;
  max: number;
  mean: number;
  /** Samples in the window (one per 10 ms of loop time). */
  count: number;
}

export interface StackStats {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  fds: number;
  connections: number;
  modules: number;
  bridge: Record<string, unknown> | null;
  eventLoopDelay: EventLoopDelay;
}

export interface StackEvent {
  event: string;
  detail: unknown;
  at: number;
}

export interface Stack extends AsyncDisposable {
  readonly pid: number;
  readonly port: number;
  readonly address: string;
  readonly bridgePort: number | undefined;
  readonly bridgeUrl: string | undefined;
  /** Events seen so far (only those named in the config). */
  readonly events: StackEvent[];
  /**
   * Uncaught exceptions and unhandled rejections of the child (stack traces), reported just
   * before Node's default handling ends it.
   */
  readonly uncaught: string[];
  /**
   * Memory, fds and counts of the child (`gc: true` collects garbage first; needs --expose-gc, on
   * by default here). `resetEventLoopDelay: true` starts a new event-loop delay window after
   * this answer.
   */
  stats(options?: { gc?: boolean; resetEventLoopDelay?: boolean }): Promise<StackStats>;
  /** SIGKILL: no Finalize, no flush, sockets reset by the kernel. */
  kill(): Promise<void>;
  /** Clean stop (server.close, bridge.close). */
  stop(): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** Starts the child and resolves once it listens (rejects if it dies first or takes > 20 s). */
export async function startStack(config: StackConfig = {}): Promise<Stack> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', '--conditions=source', '--import', 'tsx', MAIN, JSON.stringify(config)],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const events: StackEvent[] = [];
  const uncaught: string[] = [];
  const waiters = new Map<number, (s: StackStats) => void>();
  let nextId = 1;
  let ready: (v: { port: number; bridgePort: number | null }) => void = () => {};
  const readyP = new Promise<{ port: number; bridgePort: number | null }>((res, rej) => {
    ready = res;
    void exited.then((code) => rej(new Error(`stack process exited (${code}) before it was ready`)));
    setTimeout(() => rej(new Error('stack process not ready within 20 s')), 20_000).unref();
  });
  readLines(child.stdout, (msg) => {
    if (msg.ready === true) ready({ port: Number(msg.port), bridgePort: msg.bridgePort as number | null });
    else if (typeof msg.uncaught === 'string') uncaught.push(msg.uncaught);
    else if (typeof msg.event === 'string') events.push({ event: msg.event, detail: msg.detail, at: Date.now() });
    else if (typeof msg.id === 'number') {
      waiters.get(msg.id)?.(msg as unknown as StackStats);
      waiters.delete(msg.id);
    }
  });
  let info: { port: number; bridgePort: number | null };
  try {
    info = await readyP;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  }
  let alive = true;
  void exited.then(() => {
    alive = false;
    for (const w of waiters.values()) w({ rss: NaN } as StackStats);
    waiters.clear();
  });
  const stack: Stack = {
    pid: child.pid ?? -1,
    port: info.port,
    address: `127.0.0.1:${info.port}`,
    bridgePort: info.bridgePort ?? undefined,
    bridgeUrl: info.bridgePort === null ? undefined : `ws://127.0.0.1:${info.bridgePort}`,
    events,
    uncaught,
    exited,
    stats(options = {}) {
      if (!alive) return Promise.reject(new Error('stack process is gone'));
      const id = nextId++;
      return new Promise<StackStats>((res, rej) => {
        const timer = setTimeout(() => {
          waiters.delete(id);
          rej(new Error('stack process did not answer stats within 10 s'));
        }, 10_000);
        waiters.set(id, (s) => {
          clearTimeout(timer);
          if (Number.isNaN(s.rss)) rej(new Error('stack process exited'));
          else res(s);
        });
        const reset = options.resetEventLoopDelay === true ? { reset: true } : {};
        child.stdin?.write(`${JSON.stringify({ cmd: options.gc ? 'gc' : 'stats', id, ...reset })}\n`);
      });
    },
    async kill() {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (alive) child.stdin?.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    async [Symbol.asyncDispose]() {
      await stack.stop();
    },
  };
  return stack;
}
