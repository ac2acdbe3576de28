import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../src/server/deadline-queue.ts';

interface Item {
  readonly id: number;
  readonly deadline: number;
  done: boolean;
}

describe('DeadlineQueue (the hub request deadlines)', () => {
  it('expires unsettled items in order and skips settled ones', async () => {
    const expired: number[] = [];
    const q = new DeadlineQueue<Item>((i) => expired.push(i.id));
    const now = performance.now();
    const items = [0, 1, 2, 3].map((id) => ({ id, deadline: now + 20 + id * 10, done: false }));
    for (const i of items) q.push(i);
    q.settle(items[1] as Item);
    q.settle(items[1] as Item); // twice is harmless
    expect(q.pending).toBe(3);
    await new Promise((r) => setTimeout(r, 120));
    expect(expired).toEqual([0, 2, 3]);
    expect(q.length).toBe(0);
    expect(q.pending).toBe(0);
  });

  it('does not keep settled items behind one old unsettled item', () => {
    const q = new DeadlineQueue<Item>(() => {});
    const now = performance.now();
    const stuck = { id: -1, deadline: now + 60_000, done: false };
    q.push(stuck);
    for (let id = 0; id < 10_000; id++) {
      const item = { id, deadline: now + 60_000, done: false };
      q.push(item);
      q.settle(item);
    }
    expect(q.length).toBeLessThan(2100);
    expect(q.pending).toBe(1);
    q.settle(stuck);
    expect(q.length).toBe(0);
    q.clear();
  });
});
