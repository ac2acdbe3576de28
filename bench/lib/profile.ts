/**
 * `--profile`: CPU profiles of the SDK's roles during one measured window (the inspector's
 * profiler, started and stopped by the `prof-start` / `prof-stop` role commands), written to
 * bench/results/ (git-ignored; open them in Chrome DevTools), plus a short self-time summary
 * printed after the tables.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Role } from './harness.ts';

const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Runs `measure` with `roles` profiled; returns the files written. */
export async function profiled<T>(
  name: string,
  roles: readonly Role[],
  measure: () => Promise<T>,
): Promise<{ result: T; files: string[] }> {
  mkdirSync(RESULTS, { recursive: true });
  for (const r of roles) await r.call({ cmd: 'prof-start' }, 'profiling');
  const result = await measure();
  const files: string[] = [];
  for (const r of roles) {
    const file = `${RESULTS}${name}-${r.name.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`;
    await r.call({ cmd: 'prof-stop', file }, 'profiled');
    files.push(file);
  }
  return { result, files };
}

const IGNORED = new Set(['(idle)', 'dispatch']);

/** The `top` functions by self time, as `share  function  file`, idle time left out. */
export function topSelfTime(file: string, top = 10): string[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i] as number);
    const dt = p.timeDeltas[i] ?? 0;
    // Idle time, and the inspector's own message dispatch (the cost of being profiled).
    if (node === undefined || IGNORED.has(node.callFrame.functionName)) continue;
    busy += dt;
    const where = node.callFrame.url.split('/').slice(-2).join('/');
    const key = `${node.callFrame.functionName || '(anonymous)'}  ${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, t]) => `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`);
}
