import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIGURES_FILE, MODE, byMode, recordFigure } from './support/figures.ts';

describe('reliability figures', () => {
  it('records a figure as one JSON line and picks sizes by mode', () => {
    expect(byMode('a', 'b')).toBe(MODE === 'long' ? 'b' : 'a');
    const before = readLines().length;
    recordFigure({
      item: 0,
      name: 'harness',
      tried: 'the figures file takes a line',
      times: '1',
      figure: 'written',
      target: 'written',
      ok: true,
    });
    const lines = readLines();
    expect(lines.length).toBe(before + 1);
    expect(JSON.parse(lines.at(-1) ?? '{}')).toMatchObject({
      item: 0,
      name: 'harness',
      mode: MODE,
    });
  });
});

function readLines(): string[] {
  try {
    return readFileSync(FIGURES_FILE, 'utf8')
      .split('\n')
      .filter((l) => l !== '');
  } catch {
    return [];
  }
}
