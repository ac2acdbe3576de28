/**
 * A healthy probe in a child process (flood-probe-main.ts). The attacks of the flood tests run
 * in the test process and keep it busy; a probe in the same process would time the test's own
 * event loop, not the server's. Same shape as {@link HealthyPair}'s `measure`/`probe`.
 *
 * @example
 * ```ts
 * const healthy = await ProbeProcess.start({ kind: 'pair', address: stack.address });
 * const baseline = await healthy.measure(1000);
 * const probe = healthy.probe(10);
 * // ... attack ...
 * const during = await probe.stop();
 * await healthy.close();
 * ```
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LatencySummary, Probe } from './flood-probe.ts';
import { readLines } from './json-lines.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..');

export type ProbeTarget =
  { kind: 'pair'; address: string } | { kind: 'ws'; url: string; name: string };

export class ProbeProcess {
  private readonly waiting: Array<(line: Record<string, unknown>) => void> = [];
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    this.exited = new Promise((done) => child.once('exit', () => done()));
  }

  /** Starts the child; resolves once its modules are registered and a first round trip made. */
  static async start(target: ProbeTarget, timeoutMs = 20_000): Promise<ProbeProcess> {
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        resolve(HERE, 'flood-probe-main.ts'),
        JSON.stringify(target),
      ],
      { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const probe = new ProbeProcess(child);
    readLines(child.stdout, (line) => probe.waiting.shift()?.(line));
    try {
      await probe.next(timeoutMs);
    } catch (e) {
      child.kill('SIGKILL');
      throw e;
    }
    return probe;
  }

  /** One round trip, in ms. */
  async roundTrip(): Promise<number> {
    return Number((await this.ask({ cmd: 'once' })).ms);
  }

  /** Round trips `gapMs` apart for `ms`, summarised (a baseline). */
  async measure(ms: number, gapMs = 10): Promise<LatencySummary> {
    return (await this.ask({ cmd: 'measure', ms, gapMs }, ms + 20_000)).summary as LatencySummary;
  }

  /** Round trips `gapMs` apart until `stop()`. */
  probe(gapMs = 10): Probe {
    const started = this.ask({ cmd: 'start', gapMs });
    return {
      stop: async () => {
        await started;
        return (await this.ask({ cmd: 'stop' })).summary as LatencySummary;
      },
    };
  }

  async close(): Promise<void> {
    this.child.stdin?.end();
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(kill);
  }

  private ask(cmd: Record<string, unknown>, timeoutMs = 20_000): Promise<Record<string, unknown>> {
    const answer = this.next(timeoutMs);
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
    return answer;
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`probe process silent for ${timeoutMs} ms`)),
        timeoutMs,
      );
      void this.exited.then(() => rej(new Error('probe process exited')));
      this.waiting.push((line) => {
        clearTimeout(timer);
        if (typeof line.error === 'string') rej(new Error(`probe process: ${line.error}`));
        else res(line);
      });
    });
  }
}
