/**
 * Starts the soak's load (soak-load-main.ts) in a child process and follows it.
 *
 * The load runs apart from the test process so that the 60 clients' work does not share an
 * event loop with the test's own sampling (whose timers would drift under it), and so that its
 * uncaught errors are counted in a process that owns its handlers (the test worker's belong to
 * vitest).
 *
 * @example
 * ```ts
 * await using load = await startSoakLoad({ server: stack.address, bridgeUrl, durationMs: 60_000, ... });
 * const report = await load.report;
 * ```
 */
import { fork } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SoakLoadConfig, SoakLoadReport } from './soak-load-main.ts';

export type { SoakLoadConfig, SoakLoadReport, RequestTally } from './soak-load-main.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const MAIN = resolve(ROOT, 'test/reliability/support/soak-load-main.ts');

/** A running load process. */
export interface SoakLoad extends AsyncDisposable {
  readonly pid: number;
  /** Resolves when the traffic has stopped and settled; rejects if the process fails or dies first. */
  readonly report: Promise<SoakLoadReport>;
  /** Resolves once every client closed, with the process's uncaught errors up to then. */
  readonly closed: Promise<string[]>;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
}

/**
 * Forks the load and resolves once all its clients are connected (rejects if it fails first or
 * takes longer than `readyTimeoutMs`, default 60 s). Disposing it kills it if still running.
 */
export async function startSoakLoad(
  config: SoakLoadConfig,
  readyTimeoutMs = 60_000,
): Promise<SoakLoad> {
  const child = fork(MAIN, [JSON.stringify(config)], {
    cwd: ROOT,
    execArgv: ['--conditions=source', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  let onReady: () => void = () => {};
  let onReport: (r: SoakLoadReport) => void = () => {};
  let onClosed: (u: string[]) => void = () => {};
  const fail: ((e: Error) => void)[] = [];
  const ready = new Promise<void>((res, rej) => {
    onReady = res;
    fail.push(rej);
  });
  const report = new Promise<SoakLoadReport>((res, rej) => {
    onReport = res;
    fail.push(rej);
  });
  const closed = new Promise<string[]>((res, rej) => {
    onClosed = res;
    fail.push(rej);
  });
  // Whichever of these a caller never awaits must not become an unhandled rejection.
  for (const p of [ready, report, closed]) p.catch(() => undefined);
  const failAll = (e: Error): void => fail.forEach((f) => f(e));

  child.on('message', (raw) => {
    const msg = raw as {
      type?: string;
      report?: SoakLoadReport;
      uncaught?: string[];
      error?: string;
    };
    if (msg.type === 'ready') onReady();
    else if (msg.type === 'report' && msg.report) onReport(msg.report);
    else if (msg.type === 'closed') onClosed(msg.uncaught ?? []);
    else if (msg.type === 'failed') failAll(new Error(`soak load failed: ${msg.error ?? '?'}`));
  });
  void exited.then((code) => failAll(new Error(`soak load process exited (${code})`)));

  const timer = setTimeout(
    () => failAll(new Error(`soak load not ready within ${readyTimeoutMs} ms`)),
    readyTimeoutMs,
  );
  try {
    await ready;
  } catch (e) {
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid ?? -1,
    report,
    closed,
    exited,
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}
