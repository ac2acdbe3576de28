/**
 * The benchmarks are a tool, not a test: this only checks that `npm run bench -- --smoke`
 * (codec, router and the peers comparison in tiny sizes) runs to the end, exits 0 and prints
 * its summary table. The numbers are never looked at. NATS and MQTT rows may be "not run" on a
 * machine without nats-server or mosquitto, but then the output must say so.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findBinary } from '../../bench/lib/peers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** About 15 s on an idle 2-core machine; a loaded one (tests running beside it) takes longer. */
const LIMIT_MS = 150_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function smoke(): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'bench', '--', '--smoke'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    // The benchmark stops its roles and brokers on SIGTERM.
    const timer = setTimeout(() => child.kill('SIGTERM'), LIMIT_MS - 5_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench -- --smoke', () => {
  it(
    'runs, exits 0 and prints the summary table',
    async () => {
      const run = await smoke();
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const lines = run.stdout.split('\n');
      const header = lines.find((l) => l.startsWith('| bench'));
      expect(header, run.stdout).toBeDefined();
      expect(header).toContain('ours/NATS');
      const rowsOf = (bench: string): string[] => lines.filter((l) => l.startsWith(`| ${bench} `));
      expect(rowsOf('codec').length).toBeGreaterThan(0);
      expect(rowsOf('router').length).toBeGreaterThan(0);
      const peers = rowsOf('peers');
      expect(peers.length).toBeGreaterThan(0);
      // Each peer either ran (a number in its column) or is reported as not run, with the reason.
      const p50 = peers.find((l) => l.includes('sequential p50')) ?? '';
      const [, , , nats, mqtt] = p50.split('|').map((c) => c.trim());
      for (const [cell, binary] of [
        [nats, 'nats-server'],
        [mqtt, 'mosquitto'],
      ] as const) {
        if (findBinary(binary) !== undefined) expect(cell, p50).toMatch(/^\d/);
        else {
          expect(cell, p50).toBe('not run');
          expect(run.stdout).toContain(`${binary} not installed`);
        }
      }
    },
    LIMIT_MS,
  );
});
