import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openClient } from '../support/bridge-client.ts';
import { startFakeUpstream } from '../support/bridge-upstream.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOKEN = 'cli-token-0123456789abcdef';

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: Run[] = [];
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const r of running.splice(0)) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    await r.exited;
  }
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function runCli(args: string[]): Run {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'bridge/cli.ts', ...args],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (c: Buffer) => (run.stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (run.stderr += c.toString()));
  running.push(run);
  return run;
}

async function waitForOutput(run: Run, re: RegExp, timeoutMs = 15_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = re.exec(run.stdout);
    if (m) return m;
    if (run.child.exitCode !== null)
      throw new Error(`cli exited ${run.child.exitCode}: ${run.stderr}`);
    if (Date.now() > deadline) throw new Error(`no ${re} in output: ${run.stdout} / ${run.stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function configFile(json: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bridge-cli-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'bridge.json');
  await writeFile(path, JSON.stringify(json));
  return path;
}

describe('bridge cli', () => {
  it('refuses an unknown flag with exit code 2 and the usage', async () => {
    const run = runCli(['--config', 'x.json', '--verbose']);
    expect((await run.exited).code).toBe(2);
    expect(run.stderr).toMatch(/Unknown option '--verbose'/);
    expect(run.stderr).toMatch(/Usage:/);
  });

  it('refuses a bad port and a bad config file with exit code 2, naming the fault', async () => {
    const badPort = runCli(['--port', 'abc']);
    expect((await badPort.exited).code).toBe(2);
    expect(badPort.stderr).toMatch(/--port must be a number/);
    const path = await configFile({ tokens: [{ token: TOKEN, subscribe: ['a..b'] }] });
    const badConfig = runCli(['--config', path]);
    expect((await badConfig.exited).code).toBe(2);
    expect(badConfig.stderr).toMatch(/tokens\[0\]\.subscribe\[0\]/);
    expect(badConfig.stderr).not.toContain(TOKEN);
    const open = runCli(['--host', '0.0.0.0', '--port', '0']);
    expect((await open.exited).code).toBe(2);
    expect(open.stderr).toMatch(/without tokens/);
  });

  it('prints the listening URL, relays, and stops cleanly on SIGTERM', async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const path = await configFile({
      port: 9,
      tokens: [{ token: TOKEN, names: ['hmi_*'], request: ['press1.>'] }],
    });
    const run = runCli(['--config', path, '--port', '0', '--upstream', upstream.address]);
    const [, url] = await waitForOutput(run, /listening on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(url as string, { token: TOKEN });
    expect((await c.register('hmi_cli')).success).toBe(true);
    expect((await c.call(1, 'press1.x', 7)).data).toBe(7);
    run.child.kill('SIGTERM');
    expect((await c.closed).code).toBe(1001);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stderr).not.toContain(TOKEN);
    expect(run.stderr).toMatch(/"event":"connect"/);
  });

  it('stops cleanly on SIGINT', async () => {
    const upstream = await startFakeUpstream();
    cleanups.push(() => upstream.close());
    const run = runCli(['--port', '0', '--upstream', upstream.address]);
    await waitForOutput(run, /listening on ws:\/\//);
    expect(run.stderr).toMatch(/authentication is OFF/);
    run.child.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
  });
});
