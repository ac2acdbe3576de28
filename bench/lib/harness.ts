/**
 * Shared plumbing of the process benchmarks (tcp, bridge, memory): starting role processes,
 * talking to them in JSON lines, statistics, machine info and markdown tables.
 *
 * A role is `node --conditions=source --import tsx bench/roles/<file>.ts <args>`; it prints one
 * JSON object per line on stdout and reads commands as JSON lines on stdin.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

/** Kernel clock ticks per second (USER_HZ), 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;
const ROLES_DIR = fileURLToPath(new URL('../roles/', import.meta.url));
const NODE_FLAGS = [...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), '--conditions=source', '--import', 'tsx'];

/** CPU seconds (user + system) process `pid` has used so far; NaN where /proc is missing. */
export function cpuSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * Seconds the threads of process `pid` have spent runnable but waiting for a core, so far
 * (`/proc/<pid>/task/<tid>/schedstat`, second field, in ns); NaN where /proc has no schedstat.
 */
export function waitSecondsOf(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return ns / 1e9;
  } catch {
    return NaN;
  }
}

/** One JSON line a role printed. */
export type RoleLine = Record<string, unknown>;

/** Options of {@link startRole}. */
export interface StartRoleOptions {
  /** Raise the open-file limit of the role to this (spawned through `bash -c 'ulimit -n N; exec node ...'`). */
  ulimit?: number;
  /** Extra flags for node (before the script), e.g. `--expose-gc`, `--cpu-prof`. */
  nodeFlags?: string[];
  /** How long to wait for the first line (`ready`). Default 90 000 ms (start-up is slow on a loaded machine). */
  readyTimeoutMs?: number;
}

/** A running role process. */
export class Role {
  readonly name: string;
  readonly child: ChildProcess;
  private readonly lines: RoleLine[] = [];
  private waiter: (() => void) | undefined;
  private exited = false;
  private stderrTail = '';

  constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    let partial = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (text: string) => {
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl).trim();
        partial = partial.slice(nl + 1);
        if (line === '') continue;
        try {
          this.lines.push(JSON.parse(line) as RoleLine);
        } catch {
          process.stderr.write(`[${name}] ${line}\n`);
          continue;
        }
        this.wake();
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-4000);
      if (process.env.BENCH_VERBOSE) process.stderr.write(`[${name}] ${text}`);
    });
    child.on('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Waits for the next line that has `key` (lines without it are skipped), bounded by `timeoutMs`. */
  async next(key: string, timeoutMs = 60_000): Promise<RoleLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.lines.findIndex((l) => key in l);
      if (i >= 0) return this.lines.splice(i, 1)[0] as RoleLine;
      if (this.exited) {
        throw new Error(`${this.name} exited before printing "${key}"\n${this.stderrTail}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${key}" within ${timeoutMs} ms\n${this.stderrTail}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** CPU seconds (user + system) this process has used so far; NaN where /proc is missing. */
  cpuSeconds(): number {
    return cpuSecondsOf(this.child.pid);
  }

  /** Seconds this process's threads have waited, runnable, for a core so far; NaN without /proc. */
  waitSeconds(): number {
    return waitSecondsOf(this.child.pid);
  }

  /** Sends one command line. */
  send(cmd: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Sends a command and waits for the line carrying `key`. */
  async call(cmd: Record<string, unknown>, key: string, timeoutMs = 60_000): Promise<RoleLine> {
    this.send(cmd);
    return this.next(key, timeoutMs);
  }

  /** Ends the process (SIGTERM, then SIGKILL after 2 s); resolves when it is gone. */
  async stop(): Promise<void> {
    if (this.exited || this.child.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await gone;
    clearTimeout(t);
  }
}

/**
 * How many roles may be starting at once. Each start costs about a CPU second (tsx compiling
 * the sources); twenty at once on a small, busy machine miss their ready deadline.
 */
const STARTS_AT_ONCE = Math.max(2, cpus().length * 2);
let starting = 0;
const startQueue: (() => void)[] = [];

/**
 * Starts `bench/roles/<file>` with `args` and waits for its `ready` line (returned). At most
 * STARTS_AT_ONCE roles start at the same time; the others wait their turn (the ready timeout
 * counts from the spawn).
 */
export async function startRole(
  name: string,
  file: string,
  args: readonly string[],
  options: StartRoleOptions = {},
): Promise<{ role: Role; ready: RoleLine }> {
  if (starting >= STARTS_AT_ONCE) await new Promise<void>((resolve) => startQueue.push(resolve));
  starting++;
  try {
    return await spawnRole(name, file, args, options);
  } finally {
    starting--;
    startQueue.shift()?.();
  }
}

async function spawnRole(
  name: string,
  file: string,
  args: readonly string[],
  options: StartRoleOptions,
): Promise<{ role: Role; ready: RoleLine }> {
  const script = ROLES_DIR + file;
  const argv = [...(options.nodeFlags ?? []), ...NODE_FLAGS, script, ...args];
  const child =
    options.ulimit === undefined
      ? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(
          'bash',
          [
            '-c',
            `ulimit -n ${options.ulimit} 2>/dev/null || ulimit -n $(ulimit -Hn); exec "$0" "$@"`,
            process.execPath,
            ...argv,
          ],
          { stdio: ['pipe', 'pipe', 'pipe'] },
        );
  const role = new Role(name, child);
  running.add(role);
  child.on('exit', () => running.delete(role));
  const ready = await role.next('ready', options.readyTimeoutMs ?? 90_000);
  return { role, ready };
}

const running = new Set<Role>();

/** Stops every role still running (call in `finally`). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((r) => r.stop()));
}

// Children must not outlive an interrupted benchmark.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const r of running) r.child.kill('SIGKILL');
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------------
// Statistics and formatting

/** Median of `xs` (NaN for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The q-quantile (0..1) of already sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i] as number;
}

/** `median (min-max)` of per-run values, with `fmt` for each number. */
export function withSpread(xs: readonly number[], fmt: (x: number) => string): string {
  if (xs.length === 0) return '-';
  if (xs.length === 1) return fmt(xs[0] as number);
  return `${fmt(median(xs))} (${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))})`;
}

/** Integer with thin thousands separators: 61,234. */
export function int(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '-';
}

/** Microseconds with no decimals. */
export function us(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(0)}` : '-';
}

/** A ratio as a percentage. */
export function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : '-';
}

/** A markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Load averages, for printing next to every table. */
export function loadLine(): string {
  const [a, b, c] = loadavg();
  return `load average ${a?.toFixed(2)} / ${b?.toFixed(2)} / ${c?.toFixed(2)} (1 / 5 / 15 min, ${cpus().length} cores)`;
}

/** CPU, cores, memory, Node version, load. */
export function machineInfo(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return [
    `CPU: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
    `Node ${process.version} (${process.platform} ${process.arch}), TypeScript run through tsx`,
    loadLine(),
  ].join('\n');
}

/** `met` / `MISSED` for a target check. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

/**
 * Parses `--quick`, `--smoke` (tiny sizes, for CI: implies `--quick`) and `--runs N` from argv.
 */
export function benchArgs(defaultRuns: number): { quick: boolean; smoke: boolean; runs: number } {
  const argv = process.argv.slice(2);
  const smoke = argv.includes('--smoke');
  const quick = smoke || argv.includes('--quick');
  const i = argv.indexOf('--runs');
  const runs = i >= 0 ? Math.max(1, Number(argv[i + 1]) || defaultRuns) : quick ? 1 : defaultRuns;
  return { quick, smoke, runs };
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
