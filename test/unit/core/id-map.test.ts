import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdMap } from '../../../src/core/id-map.ts';

describe('IdMap', () => {
  it('sets, gets, replaces and deletes like a Map', () => {
    const m = new IdMap<string>();
    m.set(7, 'a');
    m.set(23, 'b'); // 7 and 23 share a home slot in 16
    m.set(7, 'c');
    expect(m.get(7)).toBe('c');
    expect(m.get(23)).toBe('b');
    expect(m.size).toBe(2);
    expect(m.delete(7)).toBe(true);
    expect(m.delete(7)).toBe(false);
    expect(m.get(23)).toBe('b');
    expect(m.get(7)).toBeUndefined();
    expect(m.size).toBe(1);
  });

  it('keeps entries reachable across growth and wrapped probe runs', () => {
    const m = new IdMap<number>();
    // Ids that all land on the last slots, so probe runs wrap around the end of the table.
    const ids = Array.from({ length: 40 }, (_, i) => 15 + 16 * i);
    for (const id of ids) m.set(id, id * 2);
    for (const id of ids) expect(m.get(id)).toBe(id * 2);
    for (const id of ids.filter((_, i) => i % 3 === 0)) m.delete(id);
    for (const [i, id] of ids.entries()) expect(m.get(id)).toBe(i % 3 === 0 ? undefined : id * 2);
    expect(m.values().sort((a, b) => a - b)).toEqual(
      ids.filter((_, i) => i % 3 !== 0).map((id) => id * 2),
    );
  });

  it('holds ids up to 2^32 - 1', () => {
    const m = new IdMap<string>();
    m.set(0xffffffff, 'max');
    m.set(1, 'one');
    expect(m.get(0xffffffff)).toBe('max');
    expect(m.get(1)).toBe('one');
    m.clear();
    expect(m.size).toBe(0);
    expect(m.get(1)).toBeUndefined();
  });

  it('agrees with a Map under any sequence of sets and deletes', () => {
    const id = fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 0xffffffff }));
    const op = fc.tuple(fc.constantFrom('set', 'delete', 'get'), id);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const m = new IdMap<number>();
        const ref = new Map<number, number>();
        ops.forEach(([kind, key], n) => {
          if (kind === 'set') {
            m.set(key, n);
            ref.set(key, n);
          } else if (kind === 'delete') {
            expect(m.delete(key)).toBe(ref.delete(key));
          }
          expect(m.get(key)).toBe(ref.get(key));
          expect(m.size).toBe(ref.size);
        });
        for (const [k, v] of ref) expect(m.get(k)).toBe(v);
        expect(m.values().sort((a, b) => a - b)).toEqual([...ref.values()].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });
});
