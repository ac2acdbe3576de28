/**
 * Servers in child processes, kept warm so one can take over a port right after the previous
 * one was killed with SIGKILL. A TypeScript child (`startStack`) needs 1-3 s to start on a busy
 * 2-core machine, far too long for hundreds of kill/restart cycles; this one runs a bundled
 * child (fault-server-main.ts, built once per test process with esbuild) and always has the
 * next ones loaded and waiting, so a restart costs about as long as `listen()` takes.
 *
 * @example
 * ```ts
 * await using servers = await StandbyServers.create({ requestTimeoutMs: 800 });
 * let server = await servers.listen(0);
 * const port = server.port;
 * await server.kill();                 // SIGKILL
 * server = await servers.listen(port); // a fresh process on the same port
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { IpcServerOptions } from '../../../src/node.ts';
import { readLines } from './json-lines.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ENTRY = resolve(ROOT, 'test/reliability/support/fault-server-main.ts');
const BUNDLE = resolve(ROOT, 'test-artifacts/reliability/fault-server-main.mjs');

let bundled: Promise<string> | undefined;

/** Bundles the child once per process (the sources do not change during a run). */
function bundle(): Promise<string> {
  bundled ??= (async () => {
    mkdirSync(dirname(BUNDLE), { recursive: true });
    await build({
      entryPoints: [ENTRY],
      outfile: BUNDLE,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      conditions: ['source'],
      logLevel: 'error',
      // CommonJS dependencies inside an ESM bundle still need a `require`.
      banner: {
        js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
      },
    });
    return BUNDLE;
  })();
  return bundled;
}

/** A server process that listens (see {@link StandbyServers.listen}). */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  readonly address: string;
  /** SIGKILL: no Finalize, no flush; the kernel closes its sockets. Resolves once it exited. */
  kill(): Promise<void>;
  readonly exited: Promise<void>;
}

interface Standby {
  child: ChildProcess;
  ready: Promise<void>;
  exited: Promise<void>;
  lines: ((msg: Record<string, unknown>) => void)[];
}

/** A pool of loaded, idle server processes; see the file comment. */
export class StandbyServers implements AsyncDisposable {
  private readonly pool: Standby[] = [];
  private readonly live = new Set<ChildProcess>();
  private closed = false;
  /** Processes started so far (standbys included). */
  spawned = 0;

  private constructor(
    private readonly script: string,
    private readonly options: IpcServerOptions,
    private readonly warm: number,
  ) {}

  /** Bundles the child if needed and starts `warm` standbys. */
  static async create(options: IpcServerOptions = {}, warm = 2): Promise<StandbyServers> {
    const servers = new StandbyServers(await bundle(), options, warm);
    servers.refill();
    return servers;
  }

  private refill(): void {
    while (!this.closed && this.pool.length < this.warm) this.pool.push(this.spawnOne());
  }

  private spawnOne(): Standby {
    this.spawned++;
    const child = spawn(process.execPath, [this.script], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    this.live.add(child);
    const exited = new Promise<void>((done) =>
      child.once('exit', () => {
        this.live.delete(child);
        done();
      }),
    );
    const lines: ((msg: Record<string, unknown>) => void)[] = [];
    readLines(child.stdout, (msg) => {
      for (const l of [...lines]) l(msg);
    });
    const ready = nextLine(lines, exited, 20_000, (m) => m.standby === true, 'standby').then(() => {});
    ready.catch(() => {});
    return { child, ready, exited, lines };
  }

  /**
   * Makes the oldest standby listen on `port` (0: any) and starts a replacement. Rejects if it
   * cannot bind (for instance while the port is still held) or does not answer within 10 s.
   */
  async listen(port: number): Promise<ServerProcess> {
    if (this.closed) throw new Error('StandbyServers closed');
    const s = this.pool.shift() ?? this.spawnOne();
    this.refill();
    await s.ready;
    const answer = nextLine(s.lines, s.exited, 10_000, (m) => m.listening === true || typeof m.failed === 'string', 'listening');
    s.child.stdin?.write(`${JSON.stringify({ listen: port, options: this.options })}\n`);
    const msg = await answer.catch((e: unknown) => {
      s.child.kill('SIGKILL');
      throw e;
    });
    if (typeof msg.failed === 'string') {
      s.child.kill('SIGKILL');
      throw new Error(`server child could not listen on ${port}: ${msg.failed}`);
    }
    const bound = Number(msg.port);
    return {
      pid: s.child.pid ?? -1,
      port: bound,
      address: `127.0.0.1:${bound}`,
      exited: s.exited,
      kill: async () => {
        s.child.kill('SIGKILL');
        await s.exited;
      },
    };
  }

  /** Kills every process it started (standbys and listening ones). */
  async close(): Promise<void> {
    this.closed = true;
    this.pool.length = 0;
    const all = [...this.live];
    await Promise.all(
      all.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            c.once('exit', () => done());
            c.kill('SIGKILL');
          }),
      ),
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The next stdout line of a child that matches `want`, bounded by `ms` and by its exit. */
function nextLine(
  lines: ((msg: Record<string, unknown>) => void)[],
  exited: Promise<void>,
  ms: number,
  want: (msg: Record<string, unknown>) => boolean,
  what: string,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const listener = (msg: Record<string, unknown>): void => {
      if (!want(msg)) return;
      done();
      resolve(msg);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`server child: no ${what} line within ${ms} ms`));
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      const i = lines.indexOf(listener);
      if (i >= 0) lines.splice(i, 1);
    };
    lines.push(listener);
    void exited.then(() => {
      done();
      reject(new Error(`server child exited before its ${what} line`));
    });
  });
}
