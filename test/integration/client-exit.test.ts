/**
 * After close() (or a failed connect) nothing of an IpcClient keeps a Node process alive: a
 * child process uses a client and must end by itself.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../support/fake-hub.ts';
import { freePort } from '../support/client-bed.ts';

const child = fileURLToPath(new URL('../support/client-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the child; rejects when it has not ended by itself within `timeoutMs`. */
function runChild(
  address: string,
  mode: string,
  onStdout?: (text: string) => void,
  timeoutMs = 15_000,
): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, address, mode], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout);
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(
        new Error(
          `child (${mode}) still running after ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const hubs: FakeHub[] = [];
afterEach(async () => {
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

describe('IpcClient leaves nothing running', () => {
  it('after working and close()', async () => {
    const hub = await FakeHub.start({
      onRequest: (m) => (m.topic === 'system.ping' ? m.intoResponse('pong') : undefined),
    });
    hubs.push(hub);
    const r = await runChild(hub.address, 'work-then-close');
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('done');
    expect(r.code).toBe(0);
  });

  it('after connect() is aborted or times out while retrying', async () => {
    const port = await freePort();
    const [a, b] = await Promise.all([
      runChild(`127.0.0.1:${port}`, 'abort-while-retrying'),
      runChild(`127.0.0.1:${port}`, 'connect-timeout'),
    ]);
    for (const r of [a, b]) {
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('done');
      expect(r.code).toBe(0);
    }
  });

  it('after giving up reconnecting', async () => {
    const hub = await FakeHub.start();
    hubs.push(hub);
    let stopped = false;
    const r = await runChild(hub.address, 'give-up', (out) => {
      if (!stopped && out.includes('connected')) {
        stopped = true;
        void hub.stop();
      }
    });
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('done');
    expect(r.code).toBe(0);
  });
});
