/**
 * Global setup of the `reliability` project: starts each run with an empty figures file and, at
 * the end, prints every figure the run recorded as one table.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { FIGURES_FILE } from './figures.ts';

export function setup(): () => void {
  rmSync(FIGURES_FILE, { force: true });
  return () => {
    if (!existsSync(FIGURES_FILE)) return;
    const rows = readFileSync(FIGURES_FILE, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const lines = [
      '',
      `Reliability figures (${String(rows[0]?.mode ?? 'ci')} mode):`,
      '| # | check | times | figure | target | verdict |',
      '|---|---|---|---|---|---|',
      ...rows
        .filter((r) => Number(r.item) >= 1)
        .sort((a, b) => Number(a.item) - Number(b.item))
        .map(
          (r) =>
            `| ${String(r.item)} | ${String(r.name)} | ${String(r.times)} | ${String(r.figure)} | ${String(r.target)} | ${r.ok ? 'met' : 'MISSED'} |`,
        ),
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  };
}
